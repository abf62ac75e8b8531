"""Pre-annotate segments with a spaCy pipeline and write Doccano-ready task JSONL.

Any spaCy pipeline is accepted by name (an installed package such as `zh_core_web_trf`)
or path (`models/zh_news_base`); its labels are mapped onto zhner's scheme through
`configs/labels.yml` (`mappings.<scheme>`), unknown labels are dropped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from zhner.config import LabelScheme, load_labels
from zhner.errors import fail
from zhner.io import check_writable, read_jsonl, write_jsonl
from zhner.pipeline import confidence
from zhner.pipeline.confidence import PATTERN_SPANS_KEY
from zhner.schemas import Segment, Span, Task, TaskMeta


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


def load_pipeline(model: str | Path) -> Language:
    """Load a spaCy pipeline by installed name or path; never downloads anything."""
    try:
        import zhner.pipeline.patterns  # noqa: F401  registers the pattern factory zh_news_base may use
    except ImportError:
        pass
    try:
        return spacy.load(model)
    except (OSError, ValueError, KeyError) as err:
        reason = str(err).splitlines()[0][:300]
        raise fail("E205", model=model, reason=reason) from None


def model_id(nlp: Language) -> tuple[str, str]:
    """`lang_name` and version from the pipeline's meta.json, as spaCy names packages."""
    meta = nlp.meta
    return f"{meta.get('lang', 'xx')}_{meta.get('name', 'pipeline')}", str(meta.get("version", "0.0.0"))


def text_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def doc_spans(
    doc: Doc, scheme: LabelScheme, mapping: str, dropped: Counter | None = None
) -> list[Span]:
    """The doc's entities as zhner spans: label mapped, source (model/pattern) and score attached."""
    pattern_keys = {(s.start_char, s.end_char, s.label_) for s in doc.spans.get(PATTERN_SPANS_KEY, [])}
    spans = []
    for ent in doc.ents:
        label = scheme.map_label(mapping, ent.label_)
        if label is None:
            if dropped is not None:
                dropped[ent.label_] += 1
            continue
        key = (ent.start_char, ent.end_char, ent.label_)
        if key in pattern_keys:
            source, score = "pattern", 1.0
        else:
            source, score = "model", confidence.ent_score(doc, *key)
        spans.append(Span(start=ent.start_char, end=ent.end_char, label=label, source=source, score=score))
    return spans


def check_offsets(segment: Segment, doc: Doc, spans: Sequence[Span]) -> None:
    """Refuse to write a task whose spans do not point at the text the model saw."""
    if doc.text != segment.text:
        raise fail("E207", segment=segment.id, reason="the tokenizer changed the text")
    for span in spans:
        if not 0 <= span.start < span.end <= len(segment.text):
            raise fail("E207", segment=segment.id, reason=f"span {span.as_triple()} is outside the text")
        if not segment.text[span.start : span.end].strip():
            raise fail("E207", segment=segment.id, reason=f"span {span.as_triple()} covers only white space")


def _tasks(
    nlp: Language, segments: Sequence[Segment], *, scheme: LabelScheme, mapping: str, summary: Summary,
    batch_size: int, n_process: int, on_batch: Callable[[int], None] | None,
) -> Iterator[Task]:
    pairs = ((s.text, s) for s in segments)
    done = 0
    for doc, segment in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
        spans = doc_spans(doc, scheme, mapping, summary.dropped_labels)
        check_offsets(segment, doc, spans)
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
            ),
        )
    if on_batch and done % batch_size:
        on_batch(done % batch_size)


def preannotate(
    *,
    segments: Path,
    model: str | Path,
    out: Path,
    force: bool = False,
    mapping: str = "ontonotes",
    scores: bool = True,
    batch_size: int = 64,
    n_process: int = 1,
    labels: Path | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Summary:
    """Pre-annotate every segment of `segments` and write one Doccano task per segment to `out`."""
    out = Path(out)
    check_writable(out, force)
    scheme = load_labels(labels)
    if mapping not in scheme.mappings:
        raise fail("E005", path=labels or "configs/labels.yml", reason=f"no mapping named {mapping!r}")
    items = list(read_jsonl(Path(segments), Segment))
    nlp = load_pipeline(model)
    if scores and "ner" in nlp.pipe_names and "beam_parse" in dir(nlp.get_pipe("ner")):
        nlp.add_pipe(confidence.FACTORY, after="ner", config={"batch_size": batch_size})
    name, version = model_id(nlp)
    summary = Summary(out=out, model=name, model_version=version)
    tasks = _tasks(nlp, items, scheme=scheme, mapping=mapping, summary=summary, batch_size=batch_size,
                   n_process=n_process, on_batch=on_batch)
    write_jsonl(out, tasks)
    return summary


def count_segments(path: Path) -> int:
    """Number of records in a segments file (for a progress bar's total)."""
    with Path(path).open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())
