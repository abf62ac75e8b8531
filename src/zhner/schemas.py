"""Shared record types of the data flow: article → segment → task (with spans).

Every file a user hands in is validated against these models on entry; offsets are
Python code points into the text they belong to (the same unit spaCy's `char_span`
and Doccano's export use).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPLITS: tuple[str, ...] = ("train", "dev", "test")
SplitName = Literal["train", "dev", "test"]


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
        n = len(self.text)
        for start, end, label in self.label:
            if not 0 <= start < end <= n:
                raise ValueError(f"span [{start}, {end}, {label!r}] is outside the text (length {n})")
        return self


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


# -- the one set of checks of a task, and the meta of a record as Doccano exports it --------------


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
    Task is read; meta.spans, the pre-annotations `zhner corrections` compares against, here.)"""
    if not task.text.strip():
        return "empty text"
    if len(task.text) > max_chars:
        return (
            f"text has {len(task.text)} characters, above sync.max_segment_chars = {max_chars}: "
            "split it into sentences upstream or pass --max-chars"
        )
    if task.meta.text_sha1 != text_sha1(task.text):
        return f"meta.text_sha1 {task.meta.text_sha1} is not the sha1 of the text ({text_sha1(task.text)})"
    for start, end, label in task.label:
        if label not in labels:
            return f"unknown label {label!r} in span [{start}, {end}] (known: {', '.join(sorted(labels))})"
    spans = sorted(task.label)
    for (s1, e1, l1), (s2, e2, l2) in zip(spans, spans[1:]):
        if s2 < e1:
            return f"spans [{s1}, {e1}, {l1!r}] and [{s2}, {e2}, {l2!r}] overlap"
    return _span_problem(task)


def _span_problem(task: Task) -> str | None:
    """A pre-annotation past the end of the text, or a span over nothing but whitespace: Doccano
    would store either, and the corrections report would count it (as boundary_fixed, say)."""
    n = len(task.text)
    for span in task.meta.spans:
        if span.end > n:
            return f"span [{span.start}, {span.end}, {span.label!r}] in meta.spans is outside the text (length {n})"
    for field_name, triples in (("label", task.label), ("meta.spans", [s.as_triple() for s in task.meta.spans])):
        for start, end, label in triples:
            if not task.text[start:end].strip():  # str.strip() also strips the ideographic space U+3000
                return f"span [{start}, {end}, {label!r}] in {field_name} covers only whitespace ({task.text[start:end]!r})"
    return None
