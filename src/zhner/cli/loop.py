"""`zhner doccano annotate-gold`, `zhner doccano round`, `zhner silver-export`: the main job's own steps."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.cli._app import app, doccano_app, handle_errors
from zhner.console import msg, progress
from zhner.demo.annotator import AnnotateResult, annotate_gold
from zhner.doccano.sync import Connection, local_connection
from zhner.doccano_settings import load_settings

ANNOTATOR_PASSWORD = typer.Option(..., "--password", envvar="ZHNER_ANNOTATOR_PASSWORD", show_default=False,
                                  help="The annotator's password.")  # fmt: skip


def _print_annotate(r: AnnotateResult) -> None:
    msg.good(
        f"{r.user} in {r.project!r}: {r.examples} examples, {r.edited} edited, {r.unchanged} already gold; "
        f"spans kept {r.kept}, deleted {r.deleted}, patched {r.patched}, created {r.created}; confirmed {r.confirmed}"
    )
    if r.no_gold:
        msg.warn(f"{len(r.no_gold)} examples have no gold and were left alone, e.g. {r.no_gold[0]}")
    if r.text_changed:
        msg.warn(f"{len(r.text_changed)} examples differ from the gold text and were left alone, e.g. {r.text_changed[0]}")


@doccano_app.command("annotate-gold")
@handle_errors
def annotate_gold_cli(
    project: str = typer.Option(..., "--project", help="Doccano project name."),
    gold: Path = typer.Option(Path("annotations/gold/seeds.jsonl"), "--gold", help="Gold tasks (by segment id)."),
    user: str = typer.Option("annotator1", "--user", help="The annotator account that applies the gold."),
    password: str = ANNOTATOR_PASSWORD,
    url: str = typer.Option(None, "--url", envvar="ZHNER_DOCCANO_URL", help="Server URL; default: the local server."),
    home: Path = typer.Option(None, "--home", help="DOCCANO_HOME of the local server."),
    confirm: bool = typer.Option(True, "--confirm/--no-confirm", help="Mark each example confirmed."),
) -> None:
    """Stand in for the human: make USER's spans equal the gold through the REST API, and confirm."""
    cfg = load_settings()
    home_p = home.absolute() if home else cfg.server.home_path()
    base = local_connection(home=home_p, venv=cfg.server.venv_path(), url=url, username=user, password=password)
    # home and venv kept (set only for the local server): connect() has it prove itself first
    conn = Connection(url=base.url, username=user, password=password, home=base.home, venv=base.venv,
                      timeout=cfg.sync.http_timeout_s)  # fmt: skip
    with progress() as bar:
        job = bar.add_task("annotating", total=None)
        result = annotate_gold(conn=conn, project=project, gold=gold, confirm=confirm,
                               on_progress=lambda n, total: bar.update(job, completed=n, total=total))  # fmt: skip
    _print_annotate(result)


@doccano_app.command("round")
@handle_errors
def round_cli(
    tasks: Path = typer.Argument(..., help="Pre-annotated tasks (annotations/tasks/NAME.jsonl)."),
    project: str = typer.Option(..., "--project", help="Doccano project name."),
    gold: Path = typer.Option(Path("annotations/gold/seeds.jsonl"), "--gold", help="Gold tasks the annotator applies."),
    user: str = typer.Option("annotator1", "--user", help="Annotator account (created if missing)."),
    password: str = ANNOTATOR_PASSWORD,
    out: Path = typer.Option(..., "--out", help="The annotator's corrections, e.g. annotations/corrected/NAME.jsonl."),
    port: int = typer.Option(None, "--port", help="Port on 127.0.0.1 (default from configs/doccano.yml, else free)."),
    home: Path = typer.Option(None, "--home", help="DOCCANO_HOME (database, logs); default from configs/doccano.yml."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite OUT."),
) -> None:
    """serve → push → the annotator applies the gold → pull → stop (always), in one command."""
    from zhner.loop import doccano_round

    r = doccano_round(tasks=tasks, gold=gold, project=project, annotator=user, annotator_password=password,
                      out=out, port=port, home=home, force=force, log=msg.info)  # fmt: skip
    p = r.push
    msg.good(f"pushed to {r.url} project {r.project!r}: {p.uploaded} uploaded, {p.already_there} already there, "
             f"{p.spans_shared} pre-annotated spans shared with {user!r}")  # fmt: skip
    _print_annotate(r.annotate)
    msg.good(f"pulled {r.records} records ({r.rejected} spans rejected) → {r.out} (this pull also in {r.pulled})")
    msg.text("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))


@app.command("silver-export")
@handle_errors
def silver_export_cli(
    out: Path = typer.Option(Path("corpus/silver.spacy"), "--out", "-o", help="DocBin to write."),
    limit: int = typer.Option(5000, "--limit", help="Lines to sample from bootstrap's train split and extra text (0: all)."),
    config: Path = typer.Option(None, "--config", "-c", help="Bootstrap settings (default: configs/bootstrap.yml)."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite OUT."),
    extra_text: bool = typer.Option(True, "--extra-text/--no-extra-text",
                                    help="Sample the bootstrap's extra text (teacher.extra_text) too."),
) -> None:
    """Silver lines the base was trained on (bootstrap's train split and extra text, seeded sample) for configs/ner.cfg."""
    from zhner.pipeline.silver_export import export_silver

    r = export_silver(out=out, limit=limit, config=config, force=force, extra_text=extra_text)
    ents = ", ".join(f"{k} {v}" for k, v in r.entities.items())
    msg.good(f"{r.docs} silver docs (of {r.train_lines} train lines and {r.extra_lines} extra lines) → {r.out}; "
             f"entities: {ents}")
