"""An annotator account applies the gold annotations through Doccano's REST API, standing in for
the human of the loop: for each example it diffs the annotator's current spans (the shared
pre-annotations, or an earlier pass) against the gold spans of that segment id, then deletes,
patches and creates spans until they are equal, and confirms the example. Running it again
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zhner.doccano.gateway import DoccanoGateway, DoccanoSpan
from zhner.doccano.sync import Connection, connect, find_work_project
from zhner.errors import ZhnerError, fail
from zhner.io import read_jsonl
from zhner.schemas import Task

Triple = tuple[int, int, str]


@dataclass
class SpanEdits:
    """What turns one example's current spans into the gold spans."""

    keep: list[DoccanoSpan] = field(default_factory=list)
    delete: list[DoccanoSpan] = field(default_factory=list)
    patch: list[tuple[DoccanoSpan, Triple]] = field(default_factory=list)
    create: list[Triple] = field(default_factory=list)


@dataclass
class AnnotateResult:
    project: str
    user: str
    examples: int = 0
    unchanged: int = 0
    kept: int = 0
    deleted: int = 0
    patched: int = 0
    created: int = 0
    confirmed: int = 0
    no_gold: list[str] = field(default_factory=list)
    text_changed: list[str] = field(default_factory=list)

    @property
    def edited(self) -> int:
        return self.examples - self.unchanged - len(self.no_gold) - len(self.text_changed)


def load_gold(path: Path) -> dict[str, Task]:
    """Gold tasks by segment id (the later record wins, as in `zhner convert`)."""
    return {t.meta.segment_id: t for t in read_jsonl(Path(path), Task)}


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return min(a[1], b[1]) - max(a[0], b[0])


def segment_id_of(example: dict) -> str | None:
    """The segment id of an example as the API lists it: the import keeps the task's `meta`
    object as one metadata key, so it sits at example["meta"]["meta"]."""
    meta = example.get("meta") or {}
    inner = meta.get("meta") if isinstance(meta.get("meta"), dict) else meta
    return inner.get("segment_id")


def plan_edits(current: list[DoccanoSpan], gold: list[Triple], labels: dict[int, str]) -> SpanEdits:
    """Exact matches are kept; an overlapping leftover is patched to its gold span (label and/or
    boundaries); the other current spans are deleted and the other gold spans created."""
    edits = SpanEdits()
    todo_gold = sorted(set(gold))
    left: list[DoccanoSpan] = []
    for span in sorted(current, key=lambda s: (s.start_offset, s.end_offset)):
        triple = (span.start_offset, span.end_offset, labels.get(span.label, ""))
        if triple in todo_gold:
            todo_gold.remove(triple)
            edits.keep.append(span)
        else:
            left.append(span)
    for span in left:
        here = (span.start_offset, span.end_offset)
        candidates = [g for g in todo_gold if _overlap(here, g[:2]) > 0]
        if not candidates:
            edits.delete.append(span)
            continue
        # prefer the same label, then the largest overlap
        best = max(candidates, key=lambda g: (g[2] == labels.get(span.label), _overlap(here, g[:2])))
        todo_gold.remove(best)
        edits.patch.append((span, best))
    edits.create = todo_gold
    return edits


def _apply(gw: DoccanoGateway, project_id: int, example_id: int, edits: SpanEdits, label_ids: dict[str, int]) -> int:
    """Deletes first (they free the offsets), then patches, then creates; returns patches done."""
    for span in edits.delete:
        gw.delete_span(project_id, example_id, span.id)
    patched = 0
    for span, (start, end, label) in edits.patch:
        try:
            gw.update_span(project_id, example_id, span.id, start_offset=start, end_offset=end, label=label_ids[label])
            patched += 1
        except ZhnerError as err:
            if err.code != "E304":  # an overlap with a span patched later: fall back to delete + create
                raise
            gw.delete_span(project_id, example_id, span.id)
            edits.create.append((start, end, label))
    for start, end, label in sorted(edits.create):
        gw.create_span(project_id, example_id, start, end, label_ids[label])
    return patched


def annotate_gold(
    *, conn: Connection, project: str, gold: Path, confirm: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> AnnotateResult:  # fmt: skip
    """Make `conn.username`'s annotations of every example in `project` equal to the gold of its segment."""
    gold_tasks = load_gold(gold)
    result = AnnotateResult(project=project, user=conn.username)
    with connect(conn) as gw:
        proj = find_work_project(gw, project, conn.username)  # their queue NAME@user, else NAME
        if proj is None:
            raise fail("E312", name=project, url=conn.url)
        types = gw.span_types(proj.id)
        labels = {t.id: t.text for t in types}
        label_ids = {t.text: t.id for t in types}
        examples = list(gw.examples(proj.id))
        for n, example in enumerate(examples, 1):
            result.examples += 1
            segment_id = segment_id_of(example)
            task = gold_tasks.get(segment_id) if segment_id else None
            if task is None:
                result.no_gold.append(str(segment_id or f"doccano:{example['id']}"))
                continue
            if task.text != example["text"]:
                result.text_changed.append(segment_id)
                continue
            missing = {lab for _, _, lab in task.label} - set(label_ids)
            if missing:
                raise fail("E318", path=gold, reason=f"segment {segment_id}: labels {sorted(missing)} are not in project {project!r}")
            edits = plan_edits(gw.spans(proj.id, example["id"]), [tuple(s) for s in task.label], labels)
            result.kept += len(edits.keep)
            if edits.delete or edits.patch or edits.create:
                result.deleted += len(edits.delete)
                result.patched += _apply(gw, proj.id, example["id"], edits, label_ids)
                result.created += len(edits.create)
            else:
                result.unchanged += 1
            if confirm and not example.get("is_confirmed"):
                gw.confirm(proj.id, example["id"])  # toggles: only when not yet confirmed
                result.confirmed += 1
            if on_progress:
                on_progress(n, len(examples))
    return result
