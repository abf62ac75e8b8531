"""Annotation rounds on Doccano, the workflows that join the stages.

- `doccano_round`, the main job's round on a local Doccano: serve → annotator account → push the
  pre-annotated tasks → the annotator applies the gold (standing in for the human) → pull → stop.
  The server is stopped whatever happens (a failed push or pull included), unless it was already
  running before the round: then it is left as it was found.
- `next_batch` (`zhner next-batch`), a round with people: pick the next segments (zhner.rounds),
  pre-annotate them with the latest model, write the task file, push it into the same project
  and record the round in the ledger; `rounds_report` (`zhner rounds`) sums the rounds up.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zhner import rounds
from zhner.corrections import CATEGORIES, tally
from zhner.demo.annotator import AnnotateResult, annotate_gold
from zhner.doccano import server, sync
from zhner.doccano_settings import load_settings
from zhner.errors import ZhnerError, fail
from zhner.evaluate import evaluate
from zhner.io import atomic_open, check_writable, corrected_files, file_safe, read_jsonl, read_jsonl_lines, read_splits, unreadable, write_jsonl
from zhner.preannotate import Summary, preannotate
from zhner.schemas import Segment, Task, article_of

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
        pushed = push_tasks(tasks=tasks, project=project, conn=admin, annotators=[annotator], collaborative=False)
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


def push_tasks(
    *, tasks: Path, project: str, conn: sync.Connection, annotators: Sequence[str] = (), collaborative: bool | None = None,
) -> sync.PushResult:  # fmt: skip
    """sync.push with the project and sync settings of configs/doccano.yml (idempotent: a pushed segment is skipped)."""
    cfg = load_settings()
    return sync.push(
        tasks_path=tasks, project=project, conn=conn, annotators=list(annotators),
        collaborative=cfg.project.collaborative if collaborative is None else collaborative,
        grapheme_mode=cfg.project.grapheme_mode, allow_overlapping=cfg.project.allow_overlapping,
        batch_size=cfg.sync.batch_size, max_chars=cfg.sync.max_segment_chars, task_timeout=cfg.sync.task_timeout_s,
    )  # fmt: skip


def project_segment_ids(conn: sync.Connection, project: str) -> set[str]:
    """Segment ids in the Doccano project, read through a pull into a temporary folder; none before it exists."""
    with tempfile.TemporaryDirectory(prefix="zhner-rounds-") as tmp:
        try:
            pulled = sync.pull(project=project, conn=conn, out_dir=Path(tmp), task_timeout=load_settings().sync.task_timeout_s)
        except ZhnerError as err:
            if err.code == "E312":  # no such project yet: the first round creates it
                return set()
            raise
        ids = {t.meta.segment_id for t in read_jsonl(pulled.path, Task)}
    return ids | {r.segment_id for r in pulled.rejected if r.segment_id}


@dataclass
class BatchResult:
    entry: rounds.RoundEntry
    ledger: Path
    pool: rounds.Pool | None = None  # None when an earlier, unpushed round was pushed instead
    push: sync.PushResult | None = None
    resumed: bool = False
    moved: list[str] = field(default_factory=list)  # segments of earlier rounds whose article is now held out
    seconds: dict[str, float] = field(default_factory=dict)


def next_batch(
    *, project: str, segments: Path, splits: Path, model: str, size: int, strategy: str = "uncertainty",
    unit: str = "segment", seed: int = 0, pool_splits: Sequence[str] = ("train",), annotated: Sequence[Path] = (),
    ledger: Path | None = None, out: Path | None = None, conn: sync.Connection | None = None,
    annotators: Sequence[str] = (), heldout: Path | None = None, force: bool = False, log: Log | None = None,
) -> BatchResult:  # fmt: skip
    """Pick the next `size` segments, pre-annotate them with `model`, write the task file, record the
    round in the ledger and push it into `project` (when `conn` is given).

    A round written but not pushed (a failed push, or an earlier `conn=None`) is pushed first,
    instead of picking a new one: the ledger never holds two rounds nobody has seen.
    """
    log = log or (lambda _m: None)
    ledger = Path(ledger) if ledger else rounds.ledger_path(project)
    book = rounds.read_ledger(ledger, project)
    if conn is not None and book.rounds and not book.rounds[-1].pushed:
        last = book.rounds[-1]
        log(f"Round {last.round} ({last.tasks}) was never pushed: pushing it now, no new batch is picked")
        return _push_round(book, ledger, project, conn, annotators, BatchResult(entry=last, ledger=ledger, resumed=True))
    rounds.check_options(strategy, unit)  # before any work
    number = len(book.rounds) + 1
    out = Path(out) if out else Path("annotations/tasks") / f"{file_safe(project)}-round{number:02d}.jsonl"
    check_writable(out, force)
    if heldout is not None and not Path(heldout).is_file():
        raise unreadable(Path(heldout))
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    exclude = rounds.annotated_ids(annotated) | book.pushed_ids()
    if conn is not None:
        exclude |= project_segment_ids(conn, project)
    split_of = read_splits(splits).split_of()
    pool = rounds.build_pool(read_jsonl_lines(Path(segments), Segment), split_of=split_of,
                             pool_splits=pool_splits, exclude=exclude, path=segments, splits_path=splits)  # fmt: skip
    # a re-ingest with more articles deals the splits again: an article annotated for training may now be held out
    moved = [sid for r in book.rounds if set(r.pool_splits) <= set(pool_splits) for sid in r.segments
             if split_of.get(article_of(sid) or "") not in pool_splits]  # fmt: skip
    if not pool.segments:
        raise fail("E434", reason=f"of the {pool.total} segments of {segments}, {pool.held_out} are in held-out splits "
                   f"(the pool is {', '.join(pool_splits)}) and {pool.excluded} annotated or pushed already")  # fmt: skip
    log(f"Pool: {len(pool.segments)} segments ({pool.held_out} held out, {pool.excluded} annotated or pushed)")
    with tempfile.TemporaryDirectory(prefix="zhner-next-batch-") as tmp:
        chosen, summary, scores = _pick_and_preannotate(pool, Path(tmp), model=model, size=size, strategy=strategy,
                                                        unit=unit, seed=seed, out=out, force=force, log=log)  # fmt: skip
    seconds["select+preannotate"] = time.perf_counter() - t
    heldout_f = None
    if heldout is not None:
        t = time.perf_counter()
        log(f"Scoring {model} on the held-out gold {heldout}")
        heldout_f = evaluate(model=model, data=Path(heldout))["model"]["strict"]["f"]
        seconds["heldout"] = time.perf_counter() - t
    picked = [scores[s.id] for s in chosen if s.id in scores]
    entry = rounds.RoundEntry(
        round=number, strategy=strategy, unit=unit, seed=seed, size=size, pool_splits=list(pool_splits),
        segments=[s.id for s in chosen],
        tasks=str(out), model=str(model), model_version=summary.model_version,
        mean_uncertainty=round(sum(picked) / len(picked), 4) if picked else None,
        heldout=str(heldout) if heldout is not None else None, heldout_f=heldout_f,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    book.rounds.append(entry)
    rounds.write_ledger(ledger, book)
    result = BatchResult(entry=entry, ledger=ledger, pool=pool, moved=moved, seconds=seconds)
    if conn is None:
        return result
    return _push_round(book, ledger, project, conn, annotators, result)


def _pick_and_preannotate(
    pool: rounds.Pool, tmp: Path, *, model: str, size: int, strategy: str, unit: str, seed: int, out: Path,
    force: bool, log: Log,
) -> tuple[list[Segment], Summary, dict[str, float]]:  # fmt: skip
    """Select, then write the batch's tasks to `out`: for the scored strategies the whole pool is
    pre-annotated (with every segment's scores) and the batch's tasks are taken from it."""
    pool_file = tmp / "pool.jsonl"
    if strategy not in rounds.SCORED:
        chosen = rounds.select(pool.segments, n=size, strategy=strategy, seed=seed, unit=unit)
        write_jsonl(pool_file, chosen)
        log(f"Pre-annotating the {len(chosen)} segments picked ({strategy}) with {model}")
        return chosen, preannotate(segments=pool_file, model=model, out=out, force=force), {}
    write_jsonl(pool_file, pool.segments)
    log(f"Scoring the {len(pool.segments)} pool segments with {model}")
    summary = preannotate(segments=pool_file, model=model, out=tmp / "pool-tasks.jsonl", all_scores=True)
    tasks = {t.meta.segment_id: t for t in read_jsonl(tmp / "pool-tasks.jsonl", Task)}
    scores = {sid: u for sid, t in tasks.items() if (u := rounds.uncertainty(t)) is not None}
    chosen = rounds.select(pool.segments, n=size, strategy=strategy, seed=seed, unit=unit, scores=scores)
    write_jsonl(out, [tasks[s.id] for s in chosen])
    return chosen, summary, scores


def _push_round(
    book: rounds.Ledger, ledger: Path, project: str, conn: sync.Connection, annotators: Sequence[str], result: BatchResult
) -> BatchResult:  # fmt: skip
    t = time.perf_counter()
    result.push = push_tasks(tasks=Path(result.entry.tasks), project=project, conn=conn, annotators=annotators)
    result.seconds["push"] = time.perf_counter() - t
    result.entry = result.entry.model_copy(update={"pushed": True})
    book.rounds = [result.entry if r.round == result.entry.round else r for r in book.rounds]
    rounds.write_ledger(ledger, book)
    return result


def rounds_report(
    *, project: str, corrected: Sequence[Path], ledger: Path | None = None, annotators: Sequence[str] = ()
) -> dict:
    """Per round: segments picked and annotated, the annotators' effort on its pre-annotations
    (zhner.corrections, from the latest pulled record of each segment and annotator) and the
    held-out F of the model that pre-annotated it."""
    ledger = Path(ledger) if ledger else rounds.ledger_path(project)
    book = rounds.read_ledger(ledger, project)
    if not book.rounds:
        raise fail("E435", path=ledger)
    latest: dict[tuple[str, str | None], Task] = {}
    for path in corrected_files(corrected):  # in name order: a later pull supersedes an earlier one
        for task in read_jsonl(path, Task):
            latest[(task.meta.segment_id, task.meta.annotator)] = task
    round_of = book.round_of()
    by_round: dict[int, list[Task]] = {r.round: [] for r in book.rounds}
    for (sid, _), task in latest.items():
        if sid in round_of:
            by_round[round_of[sid]].append(task)
    rows = []
    for r in book.rounds:
        report = tally(by_round[r.round], annotators)
        effort = {c: getattr(report.total, c) for c in CATEGORIES}
        edits = sum(effort.values()) - effort["kept"]
        done = len({t.meta.segment_id for t in by_round[r.round] if not annotators or t.meta.annotator in annotators})
        rows.append({
            "round": r.round, "strategy": r.strategy, "unit": r.unit, "seed": r.seed, "segments": len(r.segments),
            "annotated": done, "model": r.model, "model_version": r.model_version, "heldout_f": r.heldout_f,
            "mean_uncertainty": r.mean_uncertainty, "effort": {**effort, "edits": edits},
            "edits_per_segment": round(edits / report.records, 3) if report.records else None, "pushed": r.pushed,
        })  # fmt: skip
    return {"project": project, "ledger": str(ledger), "corrected": [str(p) for p in corrected], "rounds": rows}


def render_rounds(report: dict) -> str:
    """The rounds report as a Markdown table."""
    lines = [
        f"# Annotation rounds of project {report['project']}", "",
        "Effort: what the annotators did to the pre-annotations of each round (kept, boundary fixed, relabelled, "
        "deleted, added); held-out F: strict micro F of the model that pre-annotated the round.", "",
        "| round | strategy | segments | annotated | kept | fixed | relabelled | deleted | added | edits / segment "
        "| pre-annotator | held-out F |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]  # fmt: skip
    for r in report["rounds"]:
        e = r["effort"]
        f = "–" if r["heldout_f"] is None else f"{r['heldout_f']:.3f}"
        per = "–" if r["edits_per_segment"] is None else f"{r['edits_per_segment']:.2f}"
        model = f"{Path(r['model']).name} {r['model_version'] or ''}".strip()
        lines.append(f"| {r['round']} | {r['strategy']} ({r['unit']}) | {r['segments']} | {r['annotated']} | {e['kept']} "
                     f"| {e['boundary_fixed']} | {e['relabelled']} | {e['deleted']} | {e['added']} | {per} | {model} | {f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
