"""`zhner doccano install|serve|stop|status|adduser|push|pull`, `zhner agreement|corrections`: thin wrappers."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer
from wasabi import table

from zhner.agreement import agreement
from zhner.annotators import annotator_report
from zhner.cli._app import app, doccano_app, handle_errors
from zhner.cli._doccano_options import (
    ANNOTATORS, FORCE_OUTPUTS, HOME, PASSWORD, REPORT_JSON, URL, USER, VENV, doccano_connection, doccano_paths,
)
from zhner.console import msg, progress
from zhner.corrections import CATEGORIES, corrections
from zhner.doccano import routing, server, sync
from zhner.doccano.move_db import move_database
from zhner.doccano_settings import load_settings
from zhner.io import check_outputs, write_json, write_jsonl

@doccano_app.command("install")
@handle_errors
def install_cli(
    venv: Path = VENV, force: bool = typer.Option(False, "--force", help="Reinstall even if up to date."),
    postgresql: bool = typer.Option(False, "--postgresql", help="Also the PostgreSQL driver (requirements/doccano-postgresql.txt)."),
) -> None:  # fmt: skip
    """Install Doccano 1.8.4 into its own venv, pinned by requirements/doccano.txt (idempotent)."""
    _, venv_p = doccano_paths(None, venv)
    changed = server.install(venv=venv_p, force=force, postgresql=postgresql)
    msg.good(f"Doccano {'installed' if changed else 'already installed'} in {venv_p}")


@doccano_app.command("serve")
@handle_errors
def serve_cli(
    port: int = typer.Option(None, "--port", help="Port on 127.0.0.1; default from configs/doccano.yml."),
    database_url: str = typer.Option(None, "--database-url", envvar="ZHNER_DOCCANO_DATABASE_URL", show_default=False,
                                     help="postgresql://USER:PASSWORD@HOST:PORT/DB (recorded in the home); default SQLite."),
    home: Path = HOME,
    venv: Path = VENV,
) -> None:  # fmt: skip
    """Install if needed, init the database and admin, start web server and worker on 127.0.0.1."""
    cfg = load_settings().server
    home_p, venv_p = doccano_paths(home, venv)
    database = database_url or cfg.database()
    server.install(venv=venv_p, postgresql=server.is_postgres(database or server.database_url(home_p)))
    creds = server.init(venv=venv_p, home=home_p, admin_username=cfg.admin_username, database=database)
    st = server.start(
        venv=venv_p, home=home_p, host=cfg.host, port=port or cfg.port, workers=cfg.web_workers,
        timeout=cfg.start_timeout_s, public_url=cfg.public_url,
    )  # fmt: skip
    msg.good(f"Doccano is up at {st.url} (web pid {st.pids['web']}, worker pid {st.pids['worker']})")
    msg.info(f"admin user {creds.username!r}; password in {server.credentials_path(home_p)}; data in {home_p}")
    msg.info(f"database {server.redact(server.database_url(home_p))}")


@doccano_app.command("move-db")
@handle_errors
def move_db_cli(
    to: str = typer.Option(..., "--to", envvar="ZHNER_DOCCANO_DATABASE_URL", help="An empty PostgreSQL database URL."),
    home: Path = HOME, venv: Path = VENV,
) -> None:  # fmt: skip
    """Move the (stopped) local server's SQLite data to PostgreSQL; the SQLite file stays as a backup."""
    home_p, venv_p = doccano_paths(home, venv)
    result = move_database(venv=venv_p, home=home_p, to=to)
    msg.good(f"moved {sum(result.rows.values())} rows to {result.target}; the home uses it from now on")
    msg.text(", ".join(f"{k} {v}" for k, v in sorted(result.rows.items())))
    msg.info(f"the SQLite file stays in {home_p} as a backup; the dump is {result.dump}")


@doccano_app.command("stop")
@handle_errors
def stop_cli(home: Path = HOME) -> None:
    """Stop the web server and worker started by `serve` (by their recorded pids)."""
    home_p, _ = doccano_paths(home, None)
    stopped = server.stop(home=home_p)
    msg.good(f"stopped {', '.join(f'{k} (pid {v})' for k, v in stopped.items())}" if stopped else "nothing was running")


@doccano_app.command("status")
@handle_errors
def status_cli(home: Path = HOME) -> None:
    """Say whether the local server runs and is healthy (exit code 1 when not)."""
    home_p, _ = doccano_paths(home, None)
    st = server.status(home=home_p)
    if st.healthy:
        msg.good(f"Doccano is healthy at {st.url} (pids {st.pids}); data in {home_p}")
        return
    msg.fail(f"Doccano is not healthy: {st.detail} (home {home_p})")
    raise typer.Exit(1)


@doccano_app.command("adduser")
@handle_errors
def adduser_cli(
    new_username: str = typer.Argument(..., help="Account to create."),
    new_password: str = typer.Option(None, "--new-password", envvar="ZHNER_NEW_USER_PASSWORD", show_default=False,
                                     help="Its password (generated and printed once when not given)."),
    home: Path = HOME, venv: Path = VENV, url: str = URL, username: str = USER, password: str = PASSWORD,
) -> None:  # fmt: skip
    """Create an annotator account (as the admin)."""
    generated = new_password is None
    new_password = new_password or secrets.token_urlsafe(12)
    uid, created = sync.add_user(conn=doccano_connection(home, venv, url, username, password), username=new_username,
                                 password=new_password)  # fmt: skip
    if not created:
        # its password is the one it was made with: printing the unused new one would lock the annotator out
        msg.info(f"user {new_username!r} (id {uid}) already exists; its password is unchanged")
        return
    msg.good(f"user {new_username!r} (id {uid})" + (f", password {new_password}" if generated else ""))


def _assignments(path: Path | None, project: str) -> Path:
    """annotations/assignments/PROJECT.json unless another file is given."""
    return path or Path("annotations/assignments") / f"{project.replace('/', '_')}.json"


@doccano_app.command("push")
@handle_errors
def push_cli(
    tasks: Path = typer.Argument(..., help="Task JSONL (annotations/tasks/NAME.jsonl)."),
    project: str = typer.Option(..., "--project", help="Project name (queues NAME@annotator are created as needed)."),
    annotator: list[str] = typer.Option([], "--annotator", help="Member who annotates (repeat)."),
    approver: list[str] = typer.Option([], "--approver", help="Member who approves (repeat)."),
    collaborative: bool = typer.Option(None, "--collaborative/--individual",
                                       help="One shared project, or a queue per annotator (default: config)."),
    per_segment: int = typer.Option(None, "--per-segment", help="Annotators per segment (default: all of them)."),
    overlap: float = typer.Option(None, "--overlap", help="Share of segments given to one more annotator, e.g. 0.1."),
    seed: int = typer.Option(None, "--seed", help="Seed of the routing (default: the assignment file's, else 0)."),
    honeypots: Path = typer.Option(None, "--honeypots", help="Gold tasks (label = answer, meta.spans = shown) to mix in."),
    honeypot_share: float = typer.Option(0.05, "--honeypot-share", "--share", help="Honeypots per routed segment."),
    assignments: Path = typer.Option(None, "--assignments", help="Routing file (default annotations/assignments/PROJECT.json)."),
    max_chars: int = typer.Option(None, "--max-chars", help="Longest segment accepted (default: config)."),
    home: Path = HOME, venv: Path = VENV, url: str = URL, username: str = USER, password: str = PASSWORD,
) -> None:  # fmt: skip
    """Push pre-annotated tasks: each annotator gets their segments with the pre-annotations; pushing again adds nothing."""
    cfg = load_settings()
    collaborative = cfg.project.collaborative if collaborative is None else collaborative
    with progress() as bar:
        job = bar.add_task("uploading", total=None)
        result = sync.push(
            tasks_path=tasks, project=project, conn=doccano_connection(home, venv, url, username, password),
            annotators=annotator, approvers=approver, collaborative=collaborative,
            grapheme_mode=cfg.project.grapheme_mode, allow_overlapping=cfg.project.allow_overlapping,
            batch_size=cfg.sync.batch_size, max_chars=max_chars or cfg.sync.max_segment_chars,
            task_timeout=cfg.sync.task_timeout_s, on_progress=lambda done, total: bar.update(job, completed=done, total=total),
            assignments=None if collaborative else _assignments(assignments, project), per_segment=per_segment,
            overlap=overlap, seed=seed, honeypots=honeypots, honeypot_share=honeypot_share,
        )  # fmt: skip
    msg.good(
        f"project {result.project!r}: {result.uploaded} rows uploaded, {result.already_there} already there, "
        f"{result.spans_shared} pre-annotated spans where annotators see them ({result.seconds:.1f} s)"
    )
    for user, n in sorted(result.per_annotator.items()):
        msg.text(f"  {sync.queue_name(result.project, user)}: {n} new rows")
    if result.honeypots:
        msg.info(f"{result.honeypots} honeypots given out; assignment in {result.assignment}")
    if result.duplicates_removed or result.reimported:
        msg.warn(f"repaired an interrupted push: {result.duplicates_removed} duplicates removed, "
                 f"{result.reimported} segments re-imported")  # fmt: skip
    if result.grapheme_warnings:
        msg.warn(f"{len(result.grapheme_warnings)} segments hold CRLF or combining characters: the web UI "
                 f"counts those as one character, e.g. {result.grapheme_warnings[0]}")  # fmt: skip


@doccano_app.command("pull")
@handle_errors
def pull_cli(
    project: str = typer.Option(..., "--project", help="Project name (its queues NAME@annotator included)."),
    approved: bool = typer.Option(False, "--approved", help="Only examples each annotator confirmed."),
    annotator: list[str] = typer.Option([], "--annotator", help="Only these annotators (repeat)."),
    out: Path = typer.Option(Path("annotations/corrected"), "--out", help="Output folder."),
    assignments: Path = typer.Option(None, "--assignments", help="Routing file naming the honeypots (default annotations/assignments/PROJECT.json)."),
    home: Path = HOME, venv: Path = VENV, url: str = URL, username: str = USER, password: str = PASSWORD,
) -> None:  # fmt: skip
    """Pull corrections to OUT/PROJECT-<timestamp>.jsonl, checking every span; honeypots beside it."""
    routing_file = _assignments(assignments, project)
    result = sync.pull(
        project=project, conn=doccano_connection(home, venv, url, username, password), out_dir=out, approved=approved,
        annotators=annotator, task_timeout=load_settings().sync.task_timeout_s,
        assignments=routing_file if routing_file.exists() else None,
    )  # fmt: skip
    msg.good(f"{result.records} records to {result.path} ({dict(result.per_annotator)})")
    if result.honeypots_path:
        msg.info(f"{result.honeypots} honeypot records to {result.honeypots_path} (for `zhner annotators`)")
    for rej in result.rejected[:20]:
        msg.warn(f"rejected {rej.segment_id} ({rej.annotator}) {list(rej.span) if rej.span else ''}: {rej.reason}")
    if result.rejected:
        msg.warn(f"{len(result.rejected)} rejected in all, listed in {result.rejected_path}")


def _overlap_segments(path: Path) -> list[str]:
    """The segments an assignment file routed to two or more annotators."""
    return routing.read_assignment(path).overlap_segments()


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


@app.command("agreement")
@handle_errors
def agreement_cli(
    corrected: Path = typer.Argument(..., help="Pulled corrections (individual mode), e.g. annotations/corrected/NAME-….jsonl."),
    annotator: list[str] = ANNOTATORS,
    adjudication: Path = typer.Option(None, "--adjudication", help="Write disagreements as tasks to push for an approver."),
    output: Path = REPORT_JSON,
    assignments: Path = typer.Option(None, "--assignments", help="Routing file of the push: only its overlap segments count."),
    force: bool = FORCE_OUTPUTS,
) -> None:  # fmt: skip
    """Inter-annotator agreement: span F1 (strict, partial) per label and character-level Cohen's kappa."""
    check_outputs(force, adjudication, output)
    overlap = _overlap_segments(assignments) if assignments else None
    report, tasks = agreement(path=corrected, annotators=annotator, segments=overlap)
    msg.info(f"{report.doubly_annotated} of {report.segments} segments annotated by 2+ annotators; "
             f"{report.disagreements} with disagreements")  # fmt: skip
    for pair in report.pairs:
        rows = [(label, _fmt(pair.strict[label].f1), _fmt(pair.partial[label].f1), pair.strict[label].a,
                 pair.strict[label].b) for label in sorted(pair.strict)]  # fmt: skip
        msg.divider(f"{pair.a} vs {pair.b}: {pair.segments} segments, kappa (characters) {_fmt(pair.kappa)}")
        msg.text(table(rows, header=("label", "F1 strict", "F1 partial", f"spans {pair.a}", f"spans {pair.b}"), divider=True))
    if adjudication:
        write_jsonl(adjudication, tasks)
        msg.good(f"{len(tasks)} segments to adjudicate in {adjudication} (push it with `zhner doccano push`)")
    if output:
        write_json(output, report.as_dict())


@app.command("corrections")
@handle_errors
def corrections_cli(
    corrected: Path = typer.Argument(..., help="Pulled corrections, e.g. annotations/corrected/NAME-….jsonl."),
    annotator: list[str] = ANNOTATORS, output: Path = REPORT_JSON, force: bool = FORCE_OUTPUTS,
) -> None:  # fmt: skip
    """Pre-annotations against corrections: kept, boundary fixed, relabelled, deleted, added per label."""
    check_outputs(force, output)
    report = corrections(path=corrected, annotators=annotator)
    rows = []
    for label, tally in [*sorted(report.by_label.items()), ("ALL", report.total)]:
        sc = tally.scores()
        rows.append((label, *(getattr(tally, c) for c in CATEGORIES), _fmt(sc["precision"]), _fmt(sc["recall"])))
    msg.text(table(rows, header=("label", *CATEGORIES, "precision", "recall"), divider=True))
    if output:
        write_json(output, report.as_dict())


@app.command("annotators")
@handle_errors
def annotators_cli(
    corrected: Path = typer.Argument(..., help="A pull, e.g. annotations/corrected/NAME-….jsonl."),
    assignments: Path = typer.Option(None, "--assignments", help="Routing file of the push (holds the honeypots' gold)."),
    honeypots: Path = typer.Option(None, "--honeypots", help="Pulled honeypots (default: CORRECTED's .honeypots.jsonl)."),
    output: Path = REPORT_JSON, force: bool = FORCE_OUTPUTS,
) -> None:  # fmt: skip
    """Per annotator: kept/deleted/added rates, acceptance of pre-annotations, honeypot F and wrong spans accepted."""
    check_outputs(force, output)
    honeypots = honeypots or corrected.with_name(corrected.name.removesuffix(".jsonl") + ".honeypots.jsonl")
    gold = routing.read_assignment(assignments).honeypots.gold if assignments else None
    report = annotator_report(corrected=corrected, honeypots=honeypots if honeypots.exists() else None, gold=gold)
    cols = ("segments", "kept_rate", "deleted_rate", "added_rate", "acceptance_rate", "honeypots", "honeypot_f",
            "wrong_accepted_rate")  # fmt: skip
    rows = []
    for name, scores in report.items():
        row = scores.as_dict()
        rows.append((name, *(row[c] if isinstance(row[c], int) else _fmt(row[c]) for c in cols)))
    msg.text(table(rows, header=("annotator", "segments", "kept", "deleted", "added", "accepted", "honeypots",
                                 "honeypot F", "wrong accepted"), divider=True))  # fmt: skip
    if output:
        write_json(output, {name: s.as_dict() for name, s in report.items()})
