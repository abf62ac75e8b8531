"""Push task files into a Doccano project and pull corrections back, idempotent by segment id.

The server is the ledger: before uploading, push exports the project and skips every segment
already there (same id and text hash), refuses a segment whose text changed, and repairs what an
interrupted import left (duplicated rows, rows whose pre-annotations never landed). So pushing
the same file twice adds nothing, and a push cut off by a crash is finished by the next one.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zhner.config import config_path, load_labels
from zhner.console import logger
from zhner.doccano import server
from zhner.doccano.gateway import ROLE_NAMES, DoccanoGateway, Project
from zhner.doccano.mapping import Rejection, from_doccano, grapheme_risk, to_doccano
from zhner.errors import fail
from zhner.io import read_jsonl, write_jsonl
from zhner.schemas import Task, row_meta, task_problem

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Connection:
    """Where the server is and who logs in; `home`/`venv` are set when it is our local server."""

    url: str
    username: str
    password: str
    home: Path | None = None
    venv: Path | None = None
    timeout: float = 120.0


@dataclass
class PushResult:
    project: str
    project_id: int
    tasks: int
    uploaded: int = 0
    already_there: int = 0
    duplicates_removed: int = 0
    reimported: int = 0
    spans_shared: int = 0
    grapheme_warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class PullResult:
    path: Path
    records: int
    per_annotator: dict[str, int]
    rejected: list[Rejection]
    rejected_path: Path | None
    seconds: float = 0.0


def read_guideline(path: Path | None = None) -> str:
    """configs/guidelines.md, or an empty guideline while it does not exist yet."""
    path = path or config_path("guidelines.md")
    # Doccano strips surrounding whitespace: compare and send the stripped text
    return Path(path).read_text(encoding="utf-8").strip() if Path(path).exists() else ""


def load_tasks(path: Path, *, labels: set[str], max_chars: int) -> list[Task]:
    """Read and check every task before anything is sent; the first bad one names file and line."""
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for lineno, task in enumerate(read_jsonl(path, Task), start=1):
        sid = task.meta.segment_id
        if (problem := task_problem(task, labels=labels, max_chars=max_chars)) is not None:
            raise fail("E310", path=path, line=_line_of(path, lineno), segment_id=sid, reason=problem)
        if sid in seen:
            reason = f"segment id repeated (first on record {seen[sid]})"
            raise fail("E310", path=path, line=_line_of(path, lineno), segment_id=sid, reason=reason)
        seen[sid] = lineno
        tasks.append(task)
    return tasks


def _line_of(path: Path, record_no: int) -> int:
    """The file line of the n-th non-blank record (read_jsonl skips blank lines)."""
    with Path(path).open(encoding="utf-8") as f:
        n = 0
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                n += 1
                if n == record_no:
                    return lineno
    return record_no


def connect(conn: Connection) -> DoccanoGateway:
    """A logged-in gateway. For our local server (conn.home set) the server must first prove it is
    the one `serve` started (server.verify_identity): its port may belong to anything by now."""
    if conn.home is not None:
        server.verify_identity(home=conn.home, url=conn.url, timeout=min(conn.timeout, 30.0))
    gw = DoccanoGateway(conn.url, timeout=conn.timeout)
    try:
        gw.login(conn.username, conn.password)
    except BaseException:
        gw.close()
        raise
    return gw


def ensure_project(
    gw: DoccanoGateway, name: str, *, guideline: str, collaborative: bool, grapheme_mode: bool, allow_overlapping: bool
) -> Project:
    """Reuse the project of that name (its mode must match) or create it; keep the guideline current."""
    project = gw.find_project(name)
    if project is None:
        return gw.create_project(
            name, guideline=guideline, collaborative=collaborative, grapheme_mode=grapheme_mode,
            allow_overlapping=allow_overlapping,
        )  # fmt: skip
    if project.collaborative_annotation != collaborative:
        modes = {True: "collaborative", False: "individual"}
        raise fail("E316", name=name, actual=modes[project.collaborative_annotation], wanted=modes[collaborative])
    if guideline and project.guideline != guideline:
        project = gw.update_project(project.id, guideline=guideline)
    return project


def ensure_labels(gw: DoccanoGateway, project_id: int, labels_path: Path | None = None) -> dict[str, int]:
    """Create the label types of configs/labels.yml (with their colours) that the project lacks."""
    scheme = load_labels(labels_path)
    existing = {t.text: t.id for t in gw.span_types(project_id)}
    used_keys = set()
    for name, spec in scheme.labels.items():
        if name in existing:
            continue
        key = spec.shortcut if spec.shortcut and spec.shortcut not in used_keys else None
        used_keys.add(key)
        existing[name] = gw.create_span_type(
            project_id, name, color=spec.color, text_color=spec.text_color, shortcut=key
        ).id
    return existing


def check_users_exist(gw: DoccanoGateway, usernames: Iterable[str]) -> None:
    """E314 for the first account that does not exist: checked before the project is created, so
    a typo in --annotator leaves nothing behind."""
    for username in dict.fromkeys(usernames):
        if gw.find_user(username) is None:
            raise fail("E314", username=username, url=gw.url)


def ensure_members(gw: DoccanoGateway, project_id: int, roles: dict[str, str]) -> dict[str, int]:
    """Add users to the project with their role ({username: admin|annotator|approver}); returns user ids."""
    role_ids = gw.roles()
    members = {m.username: m.user for m in gw.members(project_id)}
    ids = {}
    for username, role in roles.items():
        if username in members:
            ids[username] = members[username]
            continue
        user = gw.find_user(username)
        if user is None:
            raise fail("E314", username=username, url=gw.url)
        gw.add_member(project_id, user.id, role_ids[ROLE_NAMES[role]])
        ids[username] = user.id
    return ids


@dataclass
class ServerState:
    """What an export says about the project: segments present and whose spans they carry."""

    examples: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    spans_by_example: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    foreign: int = 0


def server_state(gw: DoccanoGateway, project_id: int) -> ServerState:
    state = ServerState()
    seen: set[int] = set()
    for data in gw.export(project_id).values():
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            state.spans_by_example[row["id"]] += len(row.get("label") or [])
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            meta = row_meta(row)
            if meta and meta.get("segment_id"):
                state.examples[meta["segment_id"]].append((row["id"], meta.get("text_sha1", "")))
            else:
                state.foreign += 1
    return state


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
) -> PushResult:
    """Upload the tasks of `tasks_path` that the project lacks, so that every annotator sees them
    with their pre-annotations; safe to repeat, and it finishes an interrupted earlier push."""
    t0 = time.perf_counter()
    scheme = load_labels(labels_path)
    tasks = load_tasks(tasks_path, labels=set(scheme.labels), max_chars=max_chars)
    annotators, approvers = list(annotators), list(approvers)
    if annotators and not collaborative and conn.home is None:
        raise fail("E317", url=conn.url)
    with connect(conn) as gw:
        me = gw.me()
        check_users_exist(gw, [*annotators, *approvers])
        proj = ensure_project(
            gw, project, guideline=read_guideline(guideline_path), collaborative=collaborative,
            grapheme_mode=grapheme_mode, allow_overlapping=allow_overlapping,
        )  # fmt: skip
        ensure_labels(gw, proj.id, labels_path)
        user_ids = ensure_members(gw, proj.id, {**{a: "annotator" for a in annotators}, **{a: "approver" for a in approvers}})
        result = PushResult(project=project, project_id=proj.id, tasks=len(tasks))
        todo = _plan(gw, proj, tasks, tasks_path, result)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            data = "".join(json.dumps(to_doccano(t), ensure_ascii=False) + "\n" for t in batch).encode("utf-8")
            gw.upload(proj.id, data, filename=f"{Path(tasks_path).stem}.jsonl", timeout=task_timeout)
            result.uploaded += len(batch)
            if on_progress:
                on_progress(result.uploaded, len(todo))
        if annotators and not collaborative:
            assert conn.home is not None and conn.venv is not None
            share_to = [user_ids[a] for a in annotators]
            result.spans_shared = server.share_preannotations(
                venv=conn.venv, home=conn.home, project_id=proj.id, source_user=me.id, users=share_to
            )
    result.grapheme_warnings = [t.meta.segment_id for t in tasks if grapheme_risk(t.text)]
    result.seconds = time.perf_counter() - t0
    return result


def _plan(gw: DoccanoGateway, proj: Project, tasks: list[Task], path: Path, result: PushResult) -> list[Task]:
    """The tasks still to upload, after refusing changed texts and repairing interrupted imports."""
    if gw.count_examples(proj.id) == 0:
        return tasks
    state = server_state(gw, proj.id)
    todo: list[Task] = []
    to_delete: list[int] = []
    for lineno, task in enumerate(tasks, start=1):
        present = sorted(state.examples.get(task.meta.segment_id, []))
        if not present:
            todo.append(task)
            continue
        (first_id, sha1), extra = present[0], present[1:]
        if sha1 != task.meta.text_sha1:
            raise fail(
                "E311", path=path, line=_line_of(path, lineno), segment_id=task.meta.segment_id,
                project=proj.name, old=sha1, new=task.meta.text_sha1,
            )  # fmt: skip
        # a re-delivered import task leaves the same segment twice: keep the first row
        to_delete.extend(eid for eid, _ in extra)
        result.duplicates_removed += len(extra)
        if task.label and all(state.spans_by_example[eid] == 0 for eid, _ in present):
            # nobody has any span where the pre-annotator had some: the import stopped between
            # writing examples and their labels; import the segment again
            to_delete.append(first_id)
            result.reimported += 1
            todo.append(task)
        else:
            result.already_there += 1
    for i in range(0, len(to_delete), 500):
        gw.delete_examples(proj.id, to_delete[i : i + 500])
    if to_delete:
        logger.info("removed %d rows left by an interrupted import", len(to_delete))
    return todo


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
) -> PullResult:
    """Export the project and write its corrections as Task records, one per segment and
    annotator (meta.annotator), to out_dir/<project>-<UTC timestamp>.jsonl (-2, -3… when that
    name is taken); never replaces a file."""
    t0 = time.perf_counter()
    labels = set(load_labels(labels_path).labels)
    wanted = set(annotators)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    with connect(conn) as gw:
        proj = gw.find_project(project)
        if proj is None:
            raise fail("E312", name=project, url=conn.url)
        files = gw.export(proj.id, approved=approved, timeout=task_timeout)
    records: list[Task] = []
    rejected: list[Rejection] = []
    per_annotator: dict[str, int] = defaultdict(int)
    for name in sorted(files):
        annotator = None if proj.collaborative_annotation else Path(name).stem
        if wanted and annotator not in wanted:
            continue
        for line in files[name].decode("utf-8").splitlines():
            if not line.strip():
                continue
            task, problems = from_doccano(json.loads(line), annotator=annotator, labels=labels)
            rejected.extend(problems)
            if task is not None:
                records.append(task)
                per_annotator[annotator or "(collaborative)"] += 1
    records.sort(key=lambda t: (t.meta.segment_id, t.meta.annotator or ""))
    stem = f"{_file_safe(project)}-{stamp}"
    out, rejected_path = _write_new(Path(out_dir), stem, records, [r.as_dict() for r in rejected])
    return PullResult(out, len(records), dict(per_annotator), rejected, rejected_path, time.perf_counter() - t0)


def _file_safe(name: str) -> str:
    """A project name as part of a file name: a '/' would write into another folder."""
    return re.sub(r"[/\\\x00]", "_", name)


def _write_new(folder: Path, stem: str, records: list[Task], rejected: list[dict]) -> tuple[Path, Path | None]:
    """Write folder/stem.jsonl (and stem.rejected.jsonl), or stem-2, -3… when taken; never replace.

    Each file is written whole under a random temporary name, then hard-linked to its final name:
    link() fails when the name exists, so two pulls in the same second, even running at once,
    get two names, and nobody ever sees half a file. A name whose .rejected.jsonl exists is
    skipped, so a pull and its rejections always pair up by name."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp_main = _temp_jsonl(folder, records)
    tmp_rej = _temp_jsonl(folder, rejected) if rejected else None
    try:
        for n in itertools.count(1):
            out = folder / (f"{stem}.jsonl" if n == 1 else f"{stem}-{n}.jsonl")
            rej = out.with_suffix(".rejected.jsonl")
            if rej.exists() or not _link_new(tmp_main, out):
                continue
            if tmp_rej is not None and not _link_new(tmp_rej, rej):
                out.unlink()  # ours, linked a moment ago: free the name, try the next
                continue
            return out, (rej if tmp_rej is not None else None)
        raise AssertionError("unreachable")
    finally:
        for tmp in (tmp_main, tmp_rej):
            if tmp is not None:
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


def local_connection(
    *, home: Path, venv: Path, url: str | None = None, username: str | None = None, password: str | None = None,
    timeout: float = 120.0,
) -> Connection:  # fmt: skip
    """Credentials from arguments, $ZHNER_DOCCANO_USERNAME/PASSWORD, or the local admin file."""
    username = username or os.environ.get("ZHNER_DOCCANO_USERNAME")
    password = password or os.environ.get("ZHNER_DOCCANO_PASSWORD")
    local = server.local_url(home)
    url = url or os.environ.get("ZHNER_DOCCANO_URL") or local
    if url is None:
        raise fail("E301", url="(no server)", reason=f"no URL given and no local server recorded in {home}")
    is_local = local is not None and url.rstrip("/") == local.rstrip("/")
    if not password:
        # the local admin's password belongs to the local server, and only it gets it (after it
        # proves its identity in connect()); another URL needs credentials of its own
        if not is_local:
            raise fail("E322", url=url, home=home)
        creds = server.read_credentials(home)
        if creds is None:
            raise fail("E313", path=server.credentials_path(home))
        username, password = username or creds.username, creds.password
    return Connection(
        url=url, username=username, password=password, home=home if is_local else None,
        venv=venv if is_local else None, timeout=timeout,
    )  # fmt: skip


def add_user(*, conn: Connection, username: str, password: str) -> tuple[int, bool]:
    """Create a Doccano account (as the admin) unless it exists; returns its id and whether it is new."""
    with connect(conn) as gw:
        user = gw.find_user(username)
        return (user.id, False) if user else (gw.create_user(username, password).id, True)
