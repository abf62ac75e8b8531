"""Corrected Doccano JSONL → train/dev/test DocBins, split by article and tokenised by the pipeline to train.

A span that does not fall on token boundaries (spaCy's W030 case; frequent with a Chinese
word segmenter) is never dropped silently: every one is listed with what the chosen policy
did to it. Policies:

- expand:     grow the span to the tokens it touches
- contract:   shrink it to the tokens wholly inside (dropped, and listed, when there are none)
- reject:     leave the whole document out (a document missing an entity would teach "no entity")
- retokenize: add the entity texts to the pkuseg user dictionary and tokenise every document
              again; what still does not align is expanded
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from zhner.config import LabelScheme, load_labels
from zhner.errors import fail, printable
from zhner.io import atomic_open, corrected_files, output_dir, read_jsonl_lines, read_splits, write_jsonl, write_text
from zhner.nlp import load_pipeline
from zhner.schemas import SPLITS, article_of, check_spans, raise_if_outside, row_meta

Policy = Literal["expand", "contract", "reject", "retokenize"]
POLICIES: tuple[str, ...] = ("expand", "contract", "reject", "retokenize")
MISALIGNED_FILE = "misaligned.jsonl"
USER_DICT_FILE = "user_dict.txt"
MIN_USER_WORD = 2  # characters; see `retokenize`


class CorrectedRecord(BaseModel):
    """One line of a corrected export: zhner's Task shape, or Doccano's export with extra top-level keys."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(min_length=1)
    label: list[tuple[int, int, str]] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_doccano_shapes(cls, data: Any) -> Any:
        # Doccano ≥ 1.7 exports spans as "entities": [{"start_offset", "end_offset", "label"}]
        if isinstance(data, dict) and isinstance(data.get("meta"), str):
            # a raw export of a project zhner pushed: meta travels as a JSON string (mapping.to_doccano)
            data = {**data, "meta": row_meta(data) or {}}
        if isinstance(data, dict) and "label" not in data and isinstance(data.get("entities"), list):
            data = dict(data)
            data["label"] = [
                (e.get("start_offset"), e.get("end_offset"), e.get("label")) for e in data.pop("entities")
            ]
        return data

    @model_validator(mode="after")
    def _spans_in_text(self) -> CorrectedRecord:
        raise_if_outside(self.label, self.text)
        return self

    def lookup(self, name: str) -> Any:
        """A key of `meta`, or of the record itself where Doccano's export flattened it."""
        return self.meta.get(name, (self.model_extra or {}).get(name))


@dataclass(frozen=True)
class Source:
    """A record and where it came from (for file:line messages)."""

    path: Path
    line: int
    segment_id: str
    article_id: str
    annotator: str | None
    record: CorrectedRecord

    @property
    def where(self) -> str:
        return f"{printable(self.path)}:{self.line}"  # also stored in the DocBin: no lone surrogates


@dataclass
class Misaligned:
    """A span not on token boundaries, and what the policy did with it."""

    where: str
    segment_id: str
    label: str
    start: int
    end: int
    text: str
    tokens: list[str] = field(metadata={"doc": "the tokens that the span cuts through"})
    outcome: str = ""
    result: str | None = None  # the entity text kept, when one was


@dataclass
class ConvertSummary:
    """What `convert` did: like `spacy debug data`, per split, plus every misaligned span."""

    policy: str
    model: str
    files: list[str]
    records: int = 0
    duplicates: list[str] = field(default_factory=list)
    docs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    entities: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SPLITS})
    misaligned: list[Misaligned] = field(default_factory=list)
    rejected_docs: list[str] = field(default_factory=list)
    trimmed_spans: int = 0
    user_dict_words: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(Counter(m.outcome for m in self.misaligned))

    def to_dict(self) -> dict:
        return {**asdict(self), "outcomes": self.outcomes}


# --- reading -----------------------------------------------------------------------------


def read_records(path: Path, scheme: LabelScheme) -> Iterator[Source]:
    """Validated records of one file; a bad line raises an error naming file:line and the reason."""
    for lineno, record in read_jsonl_lines(path, CorrectedRecord):  # a byte that is not UTF-8 is named (E010)
        yield _source(path, lineno, record, scheme)


def _source(path: Path, line: int, record: CorrectedRecord, scheme: LabelScheme) -> Source:
    def bad(reason: str) -> Exception:
        return fail("E410", path=path, line=line, reason=reason)

    _, problems = check_spans(sorted(record.label), record.text, labels=scheme.labels)
    if problems:
        raise bad(problems[0].message())
    segment_id, article_id = record.lookup("segment_id"), record.lookup("article_id")
    if article_id is None and isinstance(segment_id, str):
        article_id = article_of(segment_id)
    if not segment_id or not article_id:
        raise bad("no meta.segment_id/article_id: convert needs them to split by article")
    annotator = record.lookup("annotator")
    return Source(path, line, str(segment_id), str(article_id), annotator and str(annotator), record)


# --- aligning ----------------------------------------------------------------------------


def cut_tokens(doc: Doc, start: int, end: int) -> list[str]:
    """The tokens a misaligned span cuts through (crossing its start or its end)."""
    return [t.text for t in doc if t.idx < start < t.idx + len(t) or t.idx < end < t.idx + len(t)]


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading/trailing whitespace (Doccano selections often take a space along)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def align(
    nlp: Language,
    src: Source,
    policy: str,
    summary: ConvertSummary,
    was_misaligned: dict[tuple[int, int, str], list[str]] | None = None,
) -> Doc | None:
    """The document with its entities, or None when the policy rejects it; misaligned spans are listed.

    `was_misaligned` holds the spans (and the tokens they cut) that did not align before
    the user dictionary was extended: they are listed as retokenized when they align now.
    """
    text = src.record.text
    doc = nlp.make_doc(text)
    ents: list[tuple[Span, Misaligned | None]] = []
    problems: list[Misaligned] = []
    for start, end, label in sorted(src.record.label):
        t_start, t_end = trim(text, start, end)
        if (t_start, t_end) != (start, end):
            summary.trimmed_spans += 1
        if t_start == t_end:
            problems.append(_misaligned(src, doc, start, end, label, "dropped: only whitespace", None))
            continue
        span = doc.char_span(t_start, t_end, label=label)
        if span is not None:
            item = None
            if was_misaligned and (cut := was_misaligned.get((t_start, t_end, label))) is not None:
                item = Misaligned(
                    src.where, src.segment_id, label, t_start, t_end, span.text, cut, "retokenized", span.text
                )
                problems.append(item)
            ents.append((span, item))
            continue
        mode = "contract" if policy == "contract" else "expand"  # retokenize falls back to expand
        fixed = doc.char_span(t_start, t_end, label=label, alignment_mode=mode)
        if policy == "reject":
            outcome = "rejected: document left out"
        elif fixed is None:
            outcome = "dropped: no whole token inside"
        else:
            outcome = OUTCOME[policy]
        item = _misaligned(
            src, doc, t_start, t_end, label, outcome, fixed.text if fixed is not None else None
        )
        problems.append(item)
        if fixed is not None and policy != "reject":
            ents.append((fixed, item))
    summary.misaligned += problems
    if policy == "reject" and any(p.outcome.startswith("rejected") for p in problems):
        summary.rejected_docs.append(src.segment_id)
        return None
    doc.ents = _without_overlaps(ents, src, doc, summary)
    doc.user_data.update(
        {
            "segment_id": src.segment_id,
            "article_id": src.article_id,
            "annotator": src.annotator,
            "source": src.where,
        }
    )
    return doc


OUTCOME = {
    "expand": "expanded",
    "contract": "contracted",
    "retokenize": "expanded: retokenizing did not align it",
}


def _misaligned(
    src: Source, doc: Doc, start: int, end: int, label: str, outcome: str, result: str | None
) -> Misaligned:
    text = doc.text[start:end]
    return Misaligned(
        src.where, src.segment_id, label, start, end, text, cut_tokens(doc, start, end), outcome, result
    )


def _without_overlaps(
    ents: list[tuple[Span, Misaligned | None]], src: Source, doc: Doc, summary: ConvertSummary
) -> list[Span]:
    """Keep the first of spans that overlap after expansion; list the others as dropped."""
    kept: list[Span] = []
    for span, item in sorted(ents, key=lambda pair: (pair[0].start_char, -pair[0].end_char)):
        clash = next((k for k in kept if span.start < k.end and k.start < span.end), None)
        if clash is None:
            kept.append(span)
            continue
        outcome = f"dropped: overlaps {clash.text} ({clash.label_}) once aligned"
        if item is None:  # cannot happen for input spans that do not overlap, but never drop silently
            item = _misaligned(src, doc, span.start_char, span.end_char, span.label_, outcome, None)
            summary.misaligned.append(item)
        item.outcome, item.result = outcome, None
    return kept


# --- the conversion ----------------------------------------------------------------------


def load_tokenizer(model: str) -> Language:
    """The pipeline whose tokenizer the corpus must share (only its `make_doc` is used)."""
    return load_pipeline(model)


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    splits: Path = Path("corpus/splits.json"),
    model: str = "models/zh_news_base",
    misaligned: str = "expand",
    force: bool = False,
    labels_path: Path | None = None,
) -> ConvertSummary:
    """Write train/dev/test .spacy files to `out` and return what was converted and how.

    The folder is held for the whole run and the files are swapped in together at the end (a
    user_dict.txt of an earlier run goes when this one writes none): no mix of two runs.
    """
    if misaligned not in POLICIES:
        raise fail("E415", value=misaligned, choices=", ".join(POLICIES))
    out = Path(out)
    names = [*(f"{s}.spacy" for s in SPLITS), MISALIGNED_FILE, USER_DICT_FILE]
    with output_dir(out, names, force=force) as staging:
        summary, bins = _convert(inputs, splits, model, misaligned, labels_path)
        for split in SPLITS:
            with atomic_open(staging / f"{split}.spacy", "wb") as f:
                f.write(bins[split].to_bytes())
            summary.outputs[split] = printable(out / f"{split}.spacy")
        write_jsonl(staging / MISALIGNED_FILE, (asdict(m) for m in summary.misaligned))
        summary.outputs["misaligned"] = printable(out / MISALIGNED_FILE)
        if summary.user_dict_words:
            write_text(staging / USER_DICT_FILE, "\n".join(summary.user_dict_words) + "\n")
            summary.outputs["user_dict"] = printable(out / USER_DICT_FILE)
    return summary


def _convert(
    inputs: Sequence[Path], splits: Path, model: str, misaligned: str, labels_path: Path | None
) -> tuple[ConvertSummary, dict[str, DocBin]]:
    """Read, check and align every record; the DocBins by split, and the summary of what was done."""
    scheme = load_labels(labels_path)
    article_split = read_splits(splits).split_of()
    files = corrected_files(inputs)  # every round's pulls when given their folder
    summary = ConvertSummary(policy=misaligned, model=printable(model), files=[printable(f) for f in files])

    latest: dict[str, Source] = {}
    for path in files:
        for src in read_records(path, scheme):
            summary.records += 1
            if src.article_id not in article_split:
                raise fail("E411", path=src.path, line=src.line, article_id=src.article_id, splits=splits)
            if src.segment_id in latest:
                # a later pull of the same segment supersedes the earlier one
                summary.duplicates.append(f"{src.segment_id} ({latest[src.segment_id].where} → {src.where})")
            latest[src.segment_id] = src
    if not latest:
        raise fail("E414", paths=", ".join(map(str, inputs)))

    nlp = load_tokenizer(model)
    was_misaligned: dict[str, dict[tuple[int, int, str], list[str]]] = {}
    if misaligned == "retokenize":
        was_misaligned, summary.user_dict_words = retokenize(nlp, model, latest.values())

    bins = {s: DocBin(store_user_data=True) for s in SPLITS}
    for src in latest.values():
        doc = align(nlp, src, misaligned, summary, was_misaligned.get(src.segment_id))
        if doc is None:
            continue
        split = article_split[src.article_id]
        bins[split].add(doc)
        summary.docs[split] += 1
        summary.tokens[split] += len(doc)
        for ent in doc.ents:
            summary.entities[split][ent.label_] = summary.entities[split].get(ent.label_, 0) + 1
    return summary, bins


def retokenize(
    nlp: Language, model: str, sources: Iterable[Source]
) -> tuple[dict[str, dict[tuple[int, int, str], list[str]]], list[str]]:
    """Add the misaligned entity texts to pkuseg's user dictionary, so every document is tokenised with them.

    Returns the misaligned spans per segment (with the tokens they cut) and the words added.
    Single characters are not added: "京" would split every "北京" in the corpus.
    """
    segmenter = getattr(nlp.tokenizer, "segmenter", None)
    if str(segmenter) not in ("pkuseg", "Segmenter.pkuseg"):
        raise fail("E413", model=model, segmenter=str(segmenter))
    before: dict[str, dict[tuple[int, int, str], list[str]]] = {}
    words: list[str] = []
    for src in sources:
        text = src.record.text
        doc = nlp.make_doc(text)
        for start, end, label in src.record.label:
            start, end = trim(text, start, end)
            if start < end and doc.char_span(start, end, label=label) is None:
                before.setdefault(src.segment_id, {})[(start, end, label)] = cut_tokens(doc, start, end)
                if end - start >= MIN_USER_WORD:
                    words.append(text[start:end])
    words = list(dict.fromkeys(words))
    nlp.tokenizer.pkuseg_update_user_dict(words)
    return before, words
