"""Push task files into Doccano, idempotent by segment id, routed to annotators' queues.

The server is the ledger: before uploading into a project, push exports it and skips every
segment already there (same id and text hash), refuses a segment whose text changed, and repairs
what an interrupted import left (duplicated rows, rows whose pre-annotations never landed). So
pushing the same file twice adds nothing, and a push cut off by a crash is finished by the next
one. Where the projects are and why is in zhner.doccano.projects; who gets what in routing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zhner.config import load_labels
from zhner.console import logger
from zhner.doccano import projects as pj
from zhner.doccano import routing
from zhner.doccano.connection import Connection, connect
from zhner.doccano.gateway import DoccanoGateway, Project
from zhner.doccano.mapping import grapheme_risk, to_doccano
from zhner.errors import fail
from zhner.io import read_jsonl
from zhner.schemas import Task, row_meta, task_problem

Progress = Callable[[int, int], None]
# every row of one upload carries its id: an upload whose rows all lack spans never finished
BATCH_KEY = "zhner_batch"


@dataclass
class PushResult:
    project: str
    tasks: int
    projects: dict[str, int] = field(default_factory=dict)  # Doccano project name → id
    uploaded: int = 0  # rows uploaded (a segment routed to two queues counts twice)
    already_there: int = 0
    duplicates_removed: int = 0
    reimported: int = 0
    spans_shared: int = 0  # pre-annotated spans uploaded where annotators see them
    per_annotator: dict[str, int] = field(default_factory=dict)  # rows uploaded into each queue
    honeypots: int = 0
    assignment: Path | None = None
    grapheme_warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Target:
    """One Doccano project to fill: its name, members and the tasks it must hold."""

    name: str
    existing: Project | None
    roles: dict[str, str]
    tasks: list[Task]
    annotator: str | None  # the queue's annotator (individual mode)


def load_tasks(path: Path, *, labels: set[str], max_chars: int) -> list[Task]:
    """Read and check every task before anything is sent; the first bad one names file and line."""
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for lineno, task in enumerate(read_jsonl(path, Task), start=1):
        sid = task.meta.segment_id
        if (problem := task_problem(task, labels=labels, max_chars=max_chars)) is not None:
            raise fail("E310", path=path, line=line_of(path, lineno), segment_id=sid, reason=problem)
        if sid in seen:
            reason = f"segment id repeated (first on record {seen[sid]})"
            raise fail("E310", path=path, line=line_of(path, lineno), segment_id=sid, reason=reason)
        seen[sid] = lineno
        tasks.append(task)
    return tasks


def line_of(path: Path, record_no: int) -> int:
    """The file line of the n-th non-blank record (read_jsonl skips blank lines)."""
    with Path(path).open(encoding="utf-8") as f:
        n = 0
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                n += 1
                if n == record_no:
                    return lineno
    return record_no


def push(
    *,
    tasks_path: Path,
    project: str,
    conn: Connection,
    annotators: Iterable[str] = (),
    approvers: Iterable[str] = (),
    collaborative: bool = False,
    grapheme_mode: bool = True,
    allow_overlapping: bool = False,
    batch_size: int = 5000,
    max_chars: int = 10000,
    task_timeout: float = 900,
    labels_path: Path | None = None,
    guideline_path: Path | None = None,
    on_progress: Progress | None = None,
    assignments: Path | None = None,
    per_segment: int | None = None,
    overlap: float | None = None,
    seed: int | None = None,
    honeypots: Path | None = None,
    honeypot_share: float = 0.05,
) -> PushResult:
    """Upload what the projects lack, so that every annotator sees their segments with the
    pre-annotations; safe to repeat, and it finishes an interrupted earlier push.

    Individual mode: each annotator (the pusher when none is named) gets a queue `project@user`
    holding the segments routed to them (`per_segment`, `overlap`, `seed`: see routing), plus
    `honeypot_share` of honeypots from `honeypots`; the routing is kept in `assignments`.
    Collaborative mode: one project `project` that every annotator shares."""
    t0 = time.perf_counter()
    if pj.QUEUE_SEP in project:
        raise fail("E324", what=f"project name {project!r}", reason=f"{pj.QUEUE_SEP!r} is kept for the annotators' queues (NAME@annotator)")
    labels = set(load_labels(labels_path).labels)
    tasks = load_tasks(tasks_path, labels=labels, max_chars=max_chars)
    gold = load_tasks(honeypots, labels=labels, max_chars=max_chars) if honeypots else []
    annotators, approvers = list(dict.fromkeys(annotators)), list(dict.fromkeys(approvers))
    routed = per_segment is not None or bool(overlap) or bool(gold)
    if routed and (collaborative or assignments is None):
        raise fail("E324", what="--per-segment, --overlap and --honeypots", reason="they need individual mode and an assignment file")
    result = PushResult(project=project, tasks=len(tasks), assignment=assignments)
    with connect(conn) as gw:
        me = gw.me()
        pj.check_users_exist(gw, [*annotators, *approvers])
        found = pj.layout(gw, project)
        pj.check_mode(found, collaborative=collaborative)
        if collaborative:
            roles = {**{a: "annotator" for a in annotators}, **{a: "approver" for a in approvers}}
            targets = [Target(project, found.shared, roles, tasks, None)]
        else:
            targets = _queues(found, tasks, gold, annotators or [me.username], approvers, result,
                              assignments=assignments, per_segment=per_segment, overlap=overlap, seed=seed,
                              share=honeypot_share)  # fmt: skip
        guideline = pj.read_guideline(guideline_path)
        total = sum(len(t.tasks) for t in targets)
        for target in targets:
            _fill(gw, target, me.username, result, tasks_path=tasks_path, guideline=guideline,
                  grapheme_mode=grapheme_mode, allow_overlapping=allow_overlapping, labels_path=labels_path,
                  batch_size=batch_size, task_timeout=task_timeout,
                  on_progress=(lambda n: on_progress(n, total)) if on_progress else None)  # fmt: skip
    result.grapheme_warnings = [t.meta.segment_id for t in tasks if grapheme_risk(t.text)]
    result.seconds = time.perf_counter() - t0
    return result


def _queues(
    found: pj.Layout, tasks: list[Task], gold: list[Task], people: list[str], approvers: list[str],
    result: PushResult, *, assignments: Path | None, per_segment: int | None, overlap: float | None,
    seed: int | None, share: float,
) -> list[Target]:  # fmt: skip
    """One target per annotator: the segments routed to them, honeypots mixed in."""
    plan = routing.load_assignment(assignments, found.name) if assignments else routing.Assignment(project=found.name)
    # options given apply from now on; those not given stay as the assignment file has them
    if per_segment is not None:
        plan.per_segment = per_segment
    if overlap is not None:
        plan.overlap = overlap
    if seed is not None:
        plan.seed = seed
    routing.check_options(people, plan.per_segment, plan.overlap)
    ids = {t.meta.segment_id for t in tasks}
    clash = sorted((ids | set(plan.segments)) & {t.meta.segment_id for t in gold})
    if clash:
        raise fail("E324", what="--honeypots", reason=f"segment {clash[0]} is also a task: a honeypot needs an id of its own")
    routing.assign(plan, tasks, people)
    new_honeypots = routing.add_honeypots(plan, gold, share, people) if gold else {}
    if assignments:
        routing.save_assignment(assignments, plan)  # before any upload: an interrupted push keeps it
    shown = {t.meta.segment_id: _as_shown(t) for t in gold}
    by_id = {t.meta.segment_id: t for t in tasks}
    roles_extra = {a: "approver" for a in approvers}
    targets = []
    for user in people:
        real = [by_id[sid] for sid in plan.queue(user) if sid in by_id]
        traps = [shown[h] for h in plan.given.get(user, []) if h in shown]
        result.honeypots += len(new_honeypots.get(user, []))
        rows = routing.mix(real, traps, seed=f"{plan.seed}/{user}/{len(plan.given.get(user, []))}")
        name = pj.queue_name(found.name, user)
        targets.append(Target(name, found.queues.get(user), {user: "annotator", **roles_extra}, rows, user))
    return targets


def _as_shown(honeypot: Task) -> Task:
    """A honeypot as the annotator gets it: its pre-annotations (meta.spans) as the spans to correct."""
    return honeypot.model_copy(update={"label": sorted(s.as_triple() for s in honeypot.meta.spans)})


def _fill(
    gw: DoccanoGateway, target: Target, me: str, result: PushResult, *, tasks_path: Path, guideline: str,
    grapheme_mode: bool, allow_overlapping: bool, labels_path: Path | None, batch_size: int, task_timeout: float,
    on_progress: Callable[[int], None] | None,
) -> None:  # fmt: skip
    """Create or update one project and upload the tasks it lacks, in batches."""
    about = f"zhner: queue of {target.annotator} in {result.project}" if target.annotator else f"zhner: {result.project}"
    proj = pj.ensure_project(gw, target.name, guideline=guideline, grapheme_mode=grapheme_mode,
                             allow_overlapping=allow_overlapping, existing=target.existing, description=about)  # fmt: skip
    pj.ensure_labels(gw, proj.id, labels_path)
    pj.ensure_members(gw, proj.id, {u: r for u, r in target.roles.items() if u != me})
    result.projects[target.name] = proj.id
    todo = _plan(gw, proj, target.tasks, tasks_path, result)
    seen_by_others = any(u != me for u in target.roles)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        batch_id = uuid.uuid4().hex[:16]
        data = "".join(json.dumps({**to_doccano(t), BATCH_KEY: batch_id}, ensure_ascii=False) + "\n" for t in batch)
        gw.upload(proj.id, data.encode("utf-8"), filename=f"{Path(tasks_path).stem}.jsonl", timeout=task_timeout)
        result.uploaded += len(batch)
        if target.annotator:
            result.per_annotator[target.annotator] = result.per_annotator.get(target.annotator, 0) + len(batch)
        if seen_by_others:
            result.spans_shared += sum(len(t.label) for t in batch)
        if on_progress:
            on_progress(result.uploaded)


@dataclass
class Row:
    example_id: int
    sha1: str
    spans: int
    batch: str | None


@dataclass
class ServerState:
    """What an export says about a project: each segment's rows, and every upload's rows."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    batches: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    foreign: int = 0


def server_state(gw: DoccanoGateway, project_id: int) -> ServerState:
    state = ServerState()
    for data in gw.export(project_id).values():
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            meta = row_meta(row)
            if not (meta and meta.get("segment_id")):
                state.foreign += 1
                continue
            found = Row(row["id"], meta.get("text_sha1", ""), len(row.get("label") or []), row.get(BATCH_KEY))
            state.rows[meta["segment_id"]].append(found)
            if found.batch:
                state.batches[found.batch].append(found)
    return state


def _confirmed(gw: DoccanoGateway, project_id: int) -> set[int]:
    """Examples somebody confirmed (the approved-only export)."""
    ids = set()
    for data in gw.export(project_id, approved=True).values():
        ids.update(json.loads(line)["id"] for line in data.decode("utf-8").splitlines() if line.strip())
    return ids


def _plan(gw: DoccanoGateway, proj: Project, tasks: list[Task], path: Path, result: PushResult) -> list[Task]:
    """The tasks still to upload, after refusing changed texts and repairing interrupted imports.

    Doccano imports a file in chunks, examples first and their spans after, so an import killed
    in between leaves examples without spans. An example without spans is imported again only
    when no row of its upload has a span and nobody confirmed any of them: an annotator who
    deleted the pre-annotations of one example keeps that work."""
    if gw.count_examples(proj.id) == 0:
        return tasks
    state = server_state(gw, proj.id)
    todo: list[Task] = []
    to_delete: list[int] = []
    suspects: list[tuple[Task, Row]] = []
    for lineno, task in enumerate(tasks, start=1):
        present = sorted(state.rows.get(task.meta.segment_id, []), key=lambda r: r.example_id)
        if not present:
            todo.append(task)
            continue
        if present[0].sha1 != task.meta.text_sha1:
            raise fail(
                "E311", path=path, line=line_of(path, lineno), segment_id=task.meta.segment_id,
                project=proj.name, old=present[0].sha1, new=task.meta.text_sha1,
            )  # fmt: skip
        # a re-delivered import task leaves the same segment twice: keep the first row with spans
        keep = next((r for r in present if r.spans), present[0])
        extra = [r.example_id for r in present if r is not keep]
        to_delete.extend(extra)
        result.duplicates_removed += len(extra)
        if task.label and keep.spans == 0:
            suspects.append((task, keep))
        else:
            result.already_there += 1
    confirmed = _confirmed(gw, proj.id) if suspects else set()
    for task, row in suspects:
        upload = state.batches.get(row.batch or "", [row])
        if row.batch and not any(r.spans or r.example_id in confirmed for r in upload):
            to_delete.append(row.example_id)
            result.reimported += 1
            todo.append(task)
        else:
            result.already_there += 1
    for i in range(0, len(to_delete), 500):
        gw.delete_examples(proj.id, to_delete[i : i + 500])
    if to_delete:
        logger.info("removed %d rows left by an interrupted import in %s", len(to_delete), proj.name)
    return todo
