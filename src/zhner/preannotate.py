"""Pre-annotate segments with a spaCy pipeline and write Doccano-ready task JSONL.

Any spaCy pipeline is accepted by name (an installed package such as `zh_core_web_trf`)
or path (`models/zh_news_base`); its labels are mapped onto zhner's scheme through
`configs/labels.yml` (`mappings.<scheme>`), unknown labels are dropped.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language

from zhner import confidence
from zhner.config import LabelScheme, load_labels
from zhner.doccano_settings import load_settings
from zhner.errors import fail
from zhner.interrupt import child_pids, kill, raise_if_interrupted
from zhner.io import check_writable, read_jsonl_lines, write_jsonl
from zhner.nlp import analysis_score, check_offsets, doc_spans, load_pipeline, model_id
from zhner.schemas import Segment, Task, TaskMeta, task_problem, text_sha1


@dataclass
class Summary:
    """What a run wrote: counts a user checks after pre-annotating."""

    out: Path
    model: str
    model_version: str
    tasks: int = 0
    characters: int = 0
    labels: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    dropped_labels: Counter = field(default_factory=Counter)


def _tasks(
    nlp: Language, segments: Sequence[Segment], *, scheme: LabelScheme, mapping: str, summary: Summary,
    batch_size: int, n_process: int, on_batch: Callable[[int], None] | None,
) -> Iterator[Task]:
    pairs = ((s.text, s) for s in segments)
    done = 0
    running = child_pids()
    docs = nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process)
    try:
        for doc, segment in docs:
            raise_if_interrupted()  # a signal whose exception Python dropped (in a fork hook, say)
            spans = doc_spans(doc, scheme, mapping, summary.dropped_labels)
            check_offsets(segment.id, segment.text, doc, spans)
            summary.tasks += 1
            summary.characters += len(segment.text)
            summary.labels.update(s.label for s in spans)
            summary.sources.update(s.source for s in spans)
            done += 1
            if on_batch and done % batch_size == 0:
                on_batch(batch_size)
            yield Task(
                text=segment.text,
                label=[s.as_triple() for s in spans],
                meta=TaskMeta(
                    segment_id=segment.id, article_id=segment.article_id, text_sha1=text_sha1(segment.text),
                    model=summary.model, model_version=summary.model_version, spans=spans,
                    confidence=analysis_score(doc),
                ),
            )
    except BaseException:  # an error, or the writer stopped (GeneratorExit): the workers end here
        # spaCy's clean-up joins its workers, and one blocked on sending to a pipe that nobody
        # reads any more never ends. Workers hold no outputs: killing them loses nothing.
        kill(child_pids() - running)
        raise_if_interrupted()  # spaCy's EOFError from a worker the signal ended: say it was the signal
        raise
    finally:
        with warnings.catch_warnings():  # W127 "not all workers completed": we ended them
            warnings.filterwarnings("ignore", message=r"\[W127\]")
            docs.close()
    if on_batch and done % batch_size:
        on_batch(done % batch_size)


def check_pushable(path: Path, numbered: Sequence[tuple[int, Segment]], max_chars: int) -> None:
    """Refuse, before any work, segments whose tasks `zhner doccano push` would refuse (E210).

    The text rules are push's own (schemas.task_problem); ids must be unique.
    """
    first: dict[str, int] = {}
    problems: list[tuple[int, str, str]] = []
    for line, segment in numbered:
        bare = Task(text=segment.text, meta=TaskMeta(segment_id=segment.id, article_id=segment.article_id,
                                                     text_sha1=text_sha1(segment.text)))
        reason = task_problem(bare, labels=set(), max_chars=max_chars)
        if reason is None and segment.id in first:
            reason = f"segment id repeated (first on line {first[segment.id]})"
        first.setdefault(segment.id, line)
        if reason is not None:
            problems.append((line, segment.id, reason))
    if problems:
        line, segment_id, reason = problems[0]
        more = f" ({len(problems) - 1} more segments like it)" if len(problems) > 1 else ""
        raise fail("E210", path=path, line=line, segment=segment_id, reason=reason, more=more)


def preannotate(
    *,
    segments: Path,
    model: str | Path,
    out: Path,
    force: bool = False,
    mapping: str = "ontonotes",
    scores: bool = True,
    all_scores: bool = False,
    batch_size: int = 64,
    n_process: int = 1,
    labels: Path | None = None,
    max_chars: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Summary:
    """Pre-annotate every segment of `segments` and write one Doccano task per segment to `out`.

    `max_chars` is the longest text push takes (default: sync.max_segment_chars of configs/doccano.yml).
    `all_scores` beam-scores every segment, not only those with a model entity, and records the
    probability of the model's analysis of each (meta.confidence), which uncertainty sampling ranks by.
    """
    out = Path(out)
    check_writable(out, force)
    scheme = load_labels(labels)
    if mapping not in scheme.mappings:
        raise fail("E005", path=labels or "configs/labels.yml", reason=f"no mapping named {mapping!r}")
    numbered = list(read_jsonl_lines(Path(segments), Segment))
    check_pushable(Path(segments), numbered, max_chars or load_settings().sync.max_segment_chars)
    items = [segment for _, segment in numbered]
    nlp = load_pipeline(model)
    if scores or all_scores:  # --all-scores is scores and more: it never comes out without them
        confidence.add_scorer(nlp, batch_size, all_docs=all_scores)
    name, version = model_id(nlp)
    summary = Summary(out=out, model=name, model_version=version)
    tasks = _tasks(nlp, items, scheme=scheme, mapping=mapping, summary=summary, batch_size=batch_size,
                   n_process=n_process, on_batch=on_batch)
    write_jsonl(out, tasks)
    return summary


def count_segments(path: Path) -> int:
    """Number of records in a segments file (for a progress bar's total).

    Counted in bytes: a line that is not UTF-8 is reported, with its number, when the file is read.
    """
    with Path(path).open("rb") as f:
        return sum(1 for line in f if line.strip())
