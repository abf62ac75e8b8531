"""Shared record types of the data flow: article → segment → task (with spans).

Every file a user hands in is validated against these models on entry; offsets are
Python code points into the text they belong to (the same unit spaCy's `char_span`
and Doccano's export use).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

SPLITS: tuple[str, ...] = ("train", "dev", "test")
SplitName = Literal["train", "dev", "test"]
Triple = tuple[int, int, str]


def text_sha1(text: str) -> str:
    """The sha1 of a text's UTF-8 bytes, as `TaskMeta.text_sha1` carries it."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Article(Record):
    """One cleaned news article (a line of corpus/articles.jsonl)."""

    id: str = Field(description="content hash of the clean body: stable across runs")
    title: str | None = None
    date: str | None = Field(None, description="publication time as ISO 8601, when the header has one")
    source: str | None = Field(None, description="publisher named in the header (来源)")
    body: str = Field(description="clean text; paragraphs separated by one newline")
    original: str | None = Field(
        None, description="body before pinyin glosses were removed and script converted, when either happened"
    )
    script: Literal["simplified", "traditional"] = "simplified"
    encoding: str = Field(description="encoding the input file was decoded with")
    file: str = Field(description="input file name")
    sha256: str = Field(description="sha256 of the input file's bytes")


def article_of(segment_id: str) -> str | None:
    """The article id inside a segment id ('<article id>-<paragraph>-<part>'); None when it has no such form."""
    return segment_id.rsplit("-", 2)[0] if segment_id.count("-") >= 2 else None


class Segment(Record):
    """The unit annotators see: one paragraph, or a sentence-aligned part of a long one."""

    id: str = Field(description="'<article id>-<paragraph:03d>-<part:02d>': stable while the article is")
    article_id: str
    paragraph: int = Field(ge=0)
    part: int = Field(0, ge=0)
    start: int = Field(ge=0, description="offset of the text in the article body")
    end: int = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _offsets_match_text(self) -> "Segment":
        if self.end - self.start != len(self.text):
            raise ValueError(f"end - start = {self.end - self.start} but the text has {len(self.text)} characters")
        return self


class Span(Record):
    """An entity span over a segment's text; `source` says who proposed it."""

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str
    source: str | None = Field(None, description="'model', 'pattern', 'gold', or an annotator name")
    score: float | None = None

    @model_validator(mode="after")
    def _start_before_end(self) -> "Span":
        if self.start >= self.end:
            raise ValueError(f"span start {self.start} is not before its end {self.end}")
        return self

    def as_triple(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)


class TaskMeta(Record):
    """What travels with a task through Doccano and back (Doccano keeps extra keys)."""

    segment_id: str
    article_id: str
    text_sha1: str = Field(description="sha1 of the text as pushed: a pull refuses spans over changed text")
    model: str | None = None
    model_version: str | None = None
    spans: list[Span] = Field(default_factory=list, description="the pre-annotations with source and score")
    confidence: float | None = Field(
        None, description="the beam's probability of the NER's analysis as a whole, exactly its entities "
        "(where it set none: that there is none); preannotate --all-scores. `zhner next-batch` ranks by 1 - it"
    )
    annotator: str | None = Field(None, description="Doccano user whose corrections `label` holds (set by pull)")
    doccano_id: int | None = Field(None, description="the Doccano example id (set by pull)")


class Task(Record):
    """A Doccano sequence-labelling record: `{"text", "label": [[s, e, L], ...], "meta": {...}}`."""

    text: str
    label: list[tuple[int, int, str]] = Field(default_factory=list)
    meta: TaskMeta

    @model_validator(mode="after")
    def _spans_in_text(self) -> "Task":
        raise_if_outside(self.label, self.text)
        return self


class Document(BaseModel):
    """An input line of `zhner apply`: a segment, an article of corpus/articles.jsonl (its `body`),
    or any JSON object with an `id` and a `text`; other keys are ignored (archives carry their own)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    text: str = Field(validation_alias=AliasChoices("text", "body"))
    article_id: str | None = Field(None, description="a segment's article; the record itself when absent")
    start: int | None = Field(None, ge=0, description="a segment's offset in its article body")

    @field_validator("id", "article_id", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value  # archives number them


class Entity(Record):
    """One entity `zhner apply` found; offsets are code points into its document's text."""

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str
    text: str
    source: str | None = Field(None, description="'model' or 'pattern'")
    score: float | None = Field(None, description="the NER's beam probability; 1.0 for pattern spans")


class Applied(Record):
    """One output line of `zhner apply`: a document's entities and the pipeline that found them."""

    id: str
    article_id: str
    offset: int | None = Field(None, description="where the text starts in its article (segments' start)")
    text_sha1: str
    model: str
    model_version: str
    entities: list[Entity] = Field(default_factory=list)


class Splits(BaseModel):
    """corpus/splits.json, written by `zhner ingest`: the split of each canonical article, and of each
    duplicate (its canonical article's). Keys other than these are ignored, as readers always did."""

    model_config = ConfigDict(frozen=True)

    seed: int | None = None
    ratios: dict[str, float] = Field(default_factory=dict)
    pinned_test: list[str] = Field(default_factory=list, description="article ids pinned to test")
    articles: dict[str, SplitName]
    duplicates: dict[str, SplitName] = Field(default_factory=dict)

    def split_of(self) -> dict[str, str]:
        """article id → split, duplicates included."""
        return {**self.duplicates, **self.articles}


# -- the one set of span checks, the checks of a task, and the meta of a record as Doccano exports it --


def show(span: Triple) -> str:
    """A span as messages print it: `[0, 2, 'GPE']`."""
    return f"[{span[0]}, {span[1]}, {span[2]!r}]"


@dataclass(frozen=True)
class SpanProblem:
    """Why a span over a text is refused: `kind` is 'label', 'offsets', 'blank' or 'overlap'."""

    span: Triple
    kind: Literal["label", "offsets", "blank", "overlap"]
    detail: str  # the known labels, the text's length, the text under the span, or the span overlapped

    @property
    def reason(self) -> str:
        """The reason beside the span (a pull's rejection report keeps the span apart)."""
        return {
            "label": f"unknown label {self.span[2]!r}",
            "offsets": f"offsets outside the text (length {self.detail})",
            "blank": f"covers only whitespace ({self.detail})",
            "overlap": f"overlaps {self.detail}",
        }[self.kind]

    def message(self, where: str = "") -> str:
        """The reason as one sentence naming the span; `where` names the field it sits in ('meta.spans')."""
        at = f"span {show(self.span)}" + (f" in {where}" if where else "")
        return {
            "label": f"unknown label {self.span[2]!r} in span {show(self.span)} (known: {self.detail})",
            "offsets": f"{at} is outside the text (length {self.detail})",
            "blank": f"{at} covers only whitespace ({self.detail})",
            "overlap": f"spans {self.detail} and {show(self.span)} overlap; entities may not overlap or nest",
        }[self.kind]


def check_spans(
    spans: Iterable[Triple], text: str, *, labels: Collection[str] | None = None, blank_ok: bool = True,
    overlap_ok: bool = False,
) -> tuple[list[Triple], list[SpanProblem]]:
    """The spans kept and the problems of the others, in offset order. Each span is checked for a
    label among `labels` (when given), offsets with start < end inside the text, some non-whitespace
    under it (unless `blank_ok`), and no overlap with the span kept before it (unless `overlap_ok`)."""
    kept: list[Triple] = []
    problems: list[SpanProblem] = []
    for span in sorted(spans, key=lambda s: (s[0], s[1])):  # stable: spans with the same offsets keep their order
        start, end, label = span
        if labels is not None and label not in labels:
            problems.append(SpanProblem(span, "label", ", ".join(sorted(labels))))
        elif not 0 <= start < end <= len(text):
            problems.append(SpanProblem(span, "offsets", str(len(text))))
        elif not blank_ok and not text[start:end].strip():  # str.strip() also strips the ideographic space U+3000
            problems.append(SpanProblem(span, "blank", repr(text[start:end])))
        elif not overlap_ok and kept and start < kept[-1][1]:
            problems.append(SpanProblem(span, "overlap", show(kept[-1])))
        else:
            kept.append(span)
    return kept, problems


def raise_if_outside(spans: Iterable[Triple], text: str) -> None:
    """A ValueError (pydantic names the record) for the first span whose offsets are not inside `text`."""
    _, problems = check_spans(spans, text, overlap_ok=True)
    if problems:
        raise ValueError(problems[0].message())


def row_meta(row: dict[str, Any]) -> dict[str, Any] | None:
    """The task metadata of an exported row (None when the row was not pushed by zhner)."""
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return None
    return meta if isinstance(meta, dict) else None


def task_problem(task: Task, *, labels: set[str], max_chars: int) -> str | None:
    """Why a task must not be pushed, or None. (Offsets of `label` outside the text fail when the
    Task is read; meta.spans, the pre-annotations `zhner corrections` compares against, here.)

    A span over nothing but whitespace is refused in both: Doccano would store it, and the
    corrections report would count it (as boundary_fixed, say)."""
    if not task.text.strip():
        return "empty text"
    if len(task.text) > max_chars:
        return (
            f"text has {len(task.text)} characters, above sync.max_segment_chars = {max_chars}: "
            "split it into sentences upstream or pass --max-chars"
        )
    if task.meta.text_sha1 != text_sha1(task.text):
        return f"meta.text_sha1 {task.meta.text_sha1} is not the sha1 of the text ({text_sha1(task.text)})"
    for field_name, triples, rules in (
        ("label", task.label, {"labels": labels}),
        ("meta.spans", [s.as_triple() for s in task.meta.spans], {"overlap_ok": True}),
    ):
        _, problems = check_spans(triples, task.text, blank_ok=False, **rules)
        if problems:
            return problems[0].message(field_name)
    return None
