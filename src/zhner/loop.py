"""One annotation round of the main job on a local Doccano: serve → annotator account → push the
pre-annotated tasks → the annotator applies the gold (standing in for the human) → pull → stop.

The server is stopped whatever happens (a failed push or pull included), unless it was already
running before the round: then it is left as it was found.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zhner.demo.annotator import AnnotateResult, annotate_gold
from zhner.doccano import server, sync
from zhner.doccano_settings import load_settings
from zhner.io import atomic_open, check_writable

Log = Callable[[str], None]


@dataclass
class RoundResult:
    url: str
    project: str
    push: sync.PushResult
    annotate: AnnotateResult
    pulled: Path
    out: Path
    records: int
    rejected: int
    stopped: bool
    seconds: dict[str, float] = field(default_factory=dict)


def doccano_round(
    *, tasks: Path, gold: Path, project: str, annotator: str, annotator_password: str, out: Path,
    history: Path = Path("annotations/corrected/history"), home: Path | None = None, venv: Path | None = None,
    port: int | None = None, force: bool = False, log: Log | None = None,
) -> RoundResult:  # fmt: skip
    """Run the round and write the annotator's pulled corrections to `out` (the timestamped pull stays in `history`)."""
    log = log or (lambda _m: None)
    check_writable(Path(out), force)
    cfg = load_settings()
    home = Path(home).absolute() if home else cfg.server.home_path()
    venv = Path(venv).absolute() if venv else cfg.server.venv_path()
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    server.install(venv=venv)
    server.init(venv=venv, home=home, admin_username=cfg.server.admin_username)
    was_running = server.status(home=home).healthy
    port = port or cfg.server.port
    if not was_running and not server.port_free(cfg.server.host, port):
        port = server.free_port(cfg.server.host)
    log(f"Starting Doccano on {cfg.server.host}:{port} (data in {home})" if not was_running else "Doccano already running")
    st = server.start(venv=venv, home=home, host=cfg.server.host, port=port, workers=cfg.server.web_workers,
                      timeout=cfg.server.start_timeout_s)  # fmt: skip
    seconds["serve"] = time.perf_counter() - t
    stopped = False
    try:
        admin = sync.local_connection(home=home, venv=venv, timeout=cfg.sync.http_timeout_s)
        sync.add_user(conn=admin, username=annotator, password=annotator_password)
        t = time.perf_counter()
        log(f"Pushing {tasks} to project {project!r} (annotator {annotator!r} sees the pre-annotations)")
        pushed = sync.push(
            tasks_path=tasks, project=project, conn=admin, annotators=[annotator], collaborative=False,
            grapheme_mode=cfg.project.grapheme_mode, allow_overlapping=cfg.project.allow_overlapping,
            batch_size=cfg.sync.batch_size, max_chars=cfg.sync.max_segment_chars, task_timeout=cfg.sync.task_timeout_s,
        )  # fmt: skip
        seconds["push"] = time.perf_counter() - t
        t = time.perf_counter()
        log(f"{annotator!r} applies the gold of {gold} through the REST API")
        # with home: the annotator's password, like the admin's, goes only to the server we started
        as_annotator = sync.Connection(url=st.url, username=annotator, password=annotator_password, home=home,
                                       venv=venv, timeout=cfg.sync.http_timeout_s)  # fmt: skip
        annotated = annotate_gold(conn=as_annotator, project=project, gold=gold)
        seconds["annotate"] = time.perf_counter() - t
        t = time.perf_counter()
        log(f"Pulling {annotator!r}'s corrections")
        pulled = sync.pull(project=project, conn=admin, out_dir=history, annotators=[annotator],
                           task_timeout=cfg.sync.task_timeout_s)  # fmt: skip
        seconds["pull"] = time.perf_counter() - t
        with pulled.path.open("rb") as src, atomic_open(Path(out), "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        if not was_running:
            server.stop(home=home)
            stopped = True
            log("Stopped Doccano")
    return RoundResult(
        url=st.url, project=project, push=pushed, annotate=annotated, pulled=pulled.path, out=Path(out),
        records=pulled.records, rejected=len(pulled.rejected), stopped=stopped, seconds=seconds,
    )  # fmt: skip
