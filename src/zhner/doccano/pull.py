"""Pull corrections back from Doccano: one Task per segment and annotator, every span checked.

In individual mode each annotator's queue (`PROJECT@user`) is exported and its rows are that
annotator's; honeypots (listed in the assignment file) go to a file of their own, out of the
corrections. Files are never replaced: a name that is taken gets -2, -3….
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from zhner.config import load_labels
from zhner.doccano import projects as pj
from zhner.doccano import routing
from zhner.doccano.connection import Connection, connect
from zhner.doccano.mapping import Rejection, from_doccano
from zhner.errors import fail
from zhner.io import file_safe, write_jsonl
from zhner.schemas import Task

REJECTED, HONEYPOTS = ".rejected.jsonl", ".honeypots.jsonl"


@dataclass
class PullResult:
    path: Path
    records: int
    per_annotator: dict[str, int]
    rejected: list[Rejection]
    rejected_path: Path | None
    seconds: float = 0.0
    honeypots: int = 0
    honeypots_path: Path | None = None


def pull(
    *,
    project: str,
    conn: Connection,
    out_dir: Path,
    approved: bool = False,
    annotators: Iterable[str] = (),
    labels_path: Path | None = None,
    task_timeout: float = 900,
    now: datetime | None = None,
    assignments: Path | None = None,
) -> PullResult:
    """Export the project (every queue, in individual mode) and write its corrections as Task
    records, one per segment and annotator (meta.annotator), to out_dir/<project>-<UTC
    timestamp>.jsonl (-2, -3… when that name is taken); honeypots of `assignments` beside it in
    ….honeypots.jsonl; never replaces a file."""
    t0 = time.perf_counter()
    labels = set(load_labels(labels_path).labels)
    wanted = set(annotators)
    traps = set(routing.load_assignment(assignments, project).honeypots.gold) if assignments else set()
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    exports: list[tuple[str | None, dict[str, bytes]]] = []  # (queue annotator, files)
    with connect(conn) as gw:
        found = pj.layout(gw, project)
        if not found.exists:
            raise fail("E312", name=project, url=conn.url)
        if found.shared is not None:
            exports.append((None, gw.export(found.shared.id, approved=approved, timeout=task_timeout)))
        for user, queue in sorted(found.queues.items()):
            if not wanted or user in wanted:
                exports.append((user, gw.export(queue.id, approved=approved, timeout=task_timeout)))
    records: list[Task] = []
    rejected: list[Rejection] = []
    per_annotator: dict[str, int] = defaultdict(int)
    for queue_user, files in exports:
        for name in sorted(files):
            # a queue's rows are its annotator's; an older individual project has one file per user
            annotator = queue_user or (None if Path(name).stem == "all" else Path(name).stem)
            if wanted and annotator not in wanted:
                continue
            for line in files[name].decode("utf-8").splitlines():
                if not line.strip():
                    continue
                task, problems = from_doccano(json.loads(line), annotator=annotator, labels=labels)
                rejected.extend(problems)
                if task is not None:
                    records.append(task)
                    if task.meta.segment_id not in traps:
                        per_annotator[annotator or "(collaborative)"] += 1
    records.sort(key=lambda t: (t.meta.segment_id, t.meta.annotator or ""))
    kept = [t for t in records if t.meta.segment_id not in traps]
    caught = [t for t in records if t.meta.segment_id in traps]
    stem = f"{file_safe(project)}-{stamp}"
    out, side = _write_new(Path(out_dir), stem, kept, {REJECTED: [r.as_dict() for r in rejected], HONEYPOTS: caught})
    return PullResult(out, len(kept), dict(per_annotator), rejected, side[REJECTED], time.perf_counter() - t0,
                      len(caught), side[HONEYPOTS])  # fmt: skip


def _write_new(folder: Path, stem: str, records: list, companions: dict[str, list]) -> tuple[Path, dict[str, Path | None]]:
    """Write folder/stem.jsonl and its non-empty companions (stem + suffix), or stem-2, -3… when
    taken; never replace.

    Each file is written whole under a random temporary name, then hard-linked to its final name:
    link() fails when the name exists, so two pulls in the same second, even running at once,
    get two names, and nobody ever sees half a file. A name any of whose companions exists is
    skipped, so a pull and its companions always pair up by name."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp_main = _temp_jsonl(folder, records)
    tmps = {suffix: _temp_jsonl(folder, rows) for suffix, rows in companions.items() if rows}
    try:
        for n in itertools.count(1):
            name = stem if n == 1 else f"{stem}-{n}"
            out = folder / f"{name}.jsonl"
            if any((folder / f"{name}{suffix}").exists() for suffix in companions) or not _link_new(tmp_main, out):
                continue
            linked = [out]
            for suffix, tmp in tmps.items():
                if not _link_new(tmp, folder / f"{name}{suffix}"):
                    break
                linked.append(folder / f"{name}{suffix}")
            else:
                return out, {s: (folder / f"{name}{s}" if s in tmps else None) for s in companions}
            for path in linked:  # ours, linked a moment ago: free the name, try the next
                path.unlink()
        raise AssertionError("unreachable")
    finally:
        for tmp in (tmp_main, *tmps.values()):
            tmp.unlink(missing_ok=True)


def _temp_jsonl(folder: Path, rows: list) -> Path:
    tmp = folder / f".pull-{secrets.token_hex(8)}.part"  # random: no other pull writes this name
    write_jsonl(tmp, rows)
    return tmp


def _link_new(src: Path, dest: Path) -> bool:
    """Give `src` the name `dest` unless `dest` exists (then False); never replaces a file."""
    try:
        os.link(src, dest)
        return True
    except FileExistsError:
        return False
    except OSError as err:  # a filesystem without hard links: exclusive creation and a copy
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(src.read_bytes())
        f.flush()
        os.fsync(f.fileno())
    return True
