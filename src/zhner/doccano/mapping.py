"""Task ⇄ Doccano JSONL records, and the checks each direction needs.

A task travels as `{"text", "label", "segment_id", "article_id", "meta": "<JSON>"}`: Doccano keeps
unknown keys as example metadata and exports them back. `meta` goes as a JSON *string* because
Doccano rounds floats inside metadata to 10 digits on the way (measured: a score of
0.8734512345678901 came back as 0.8734512346, 0.1 + 0.2 as 0.3); the ids go beside it in clear
for the metadata panel of the web UI.
Every row carries exactly the same keys: one row with other keys fails a whole import.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from zhner.schemas import Span, Task, TaskMeta, check_spans, row_meta, text_sha1

# characters after which the web UI's grapheme offsets differ from code points
_GRAPHEME_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}


@dataclass(frozen=True)
class Rejection:
    """A pulled record or span that was not kept, and why."""

    segment_id: str | None
    annotator: str | None
    doccano_id: int | None
    span: tuple[int, int, str] | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def grapheme_risk(text: str) -> bool:
    """True when the web UI (grapheme mode) would count characters differently from code points."""
    return "\r\n" in text or any(unicodedata.combining(c) or c in _GRAPHEME_JOINERS for c in text)


def to_doccano(task: Task) -> dict[str, Any]:
    """The JSONL row to import; pre-annotations without provenance get it from `label`."""
    meta = task.meta
    if not meta.spans and task.label:
        meta = meta.model_copy(update={"spans": [Span(start=s, end=e, label=lab) for s, e, lab in task.label]})
    return {
        "text": task.text,
        "label": [list(t) for t in task.label],
        "segment_id": meta.segment_id,
        "article_id": meta.article_id,
        "meta": json.dumps(meta.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")),
    }


def from_doccano(
    row: dict[str, Any], *, annotator: str | None, labels: set[str]
) -> tuple[Task | None, list[Rejection]]:
    """A pulled row as a Task (meta.annotator set) plus the spans or record refused, with reasons."""
    meta = row_meta(row)
    doccano_id = row.get("id")
    segment_id = meta.get("segment_id") if isinstance(meta, dict) else None
    text = row.get("text")

    def reject(reason: str, span: tuple[int, int, str] | None = None) -> Rejection:
        return Rejection(segment_id, annotator, doccano_id, span, reason)

    if not isinstance(meta, dict) or not segment_id:
        return None, [reject("no meta.segment_id: not a task pushed by zhner")]
    if not isinstance(text, str) or meta.get("text_sha1") != text_sha1(text):
        return None, [reject("text changed since push (sha1 differs from meta.text_sha1)")]
    spans = [(int(raw[0]), int(raw[1]), str(raw[2])) for raw in row.get("label") or []]
    kept, problems = check_spans(spans, text, labels=labels)
    rejected = [reject(p.reason, p.span) for p in problems]
    try:
        task_meta = TaskMeta.model_validate({**meta, "annotator": annotator, "doccano_id": doccano_id})
    except ValidationError as err:
        return None, [reject(f"meta does not match the task schema: {err.errors()[0]['msg']}")]
    return Task(text=text, label=kept, meta=task_meta), rejected
