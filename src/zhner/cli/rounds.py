"""`zhner next-batch` and `zhner rounds`: annotation rounds that pick the segments worth annotating."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.cli._app import app, handle_errors
from zhner.cli._doccano_options import (
    ANNOTATORS, FORCE_OUTPUTS, HOME, PASSWORD, REPORT_JSON, URL, USER, VENV, doccano_connection,
)
from zhner.console import msg
from zhner.errors import printable
from zhner.io import check_outputs, write_json, write_text
from zhner.rounds import STRATEGIES, UNITS, latest_model

CORRECTED = Path("annotations/corrected")


@app.command("next-batch")
@handle_errors
def next_batch_cli(
    project: str = typer.Option(..., "--project", help="Doccano project the rounds go to (created by the first)."),
    size: int = typer.Option(200, "--size", "-n", min=1, help="Segments to pick."),
    strategy: str = typer.Option("uncertainty", "--strategy", help=f"One of {', '.join(STRATEGIES)}."),
    unit: str = typer.Option("segment", "--unit", help="segment, or article: whole articles, up to --size segments in all."),
    seed: int = typer.Option(0, "--seed", help="Same inputs and seed, same batch."),
    model: str = typer.Option(None, "--model", "-m", help="Pre-annotator (default: --fine-tuned if it exists, else --base)."),
    fine_tuned: Path = typer.Option(Path("models/ner/model-last"), "--fine-tuned", help="The latest fine-tuned model."),
    base: str = typer.Option("models/zh_news_base", "--base", help="The base pipeline, until a fine-tuned one exists."),
    segments: Path = typer.Option(Path("corpus/segments.jsonl"), "--segments", help="The pool (from `zhner ingest`)."),
    splits: Path = typer.Option(Path("corpus/splits.json"), "--splits", help="Article splits (from `zhner ingest`)."),
    pool_split: list[str] = typer.Option(["train"], "--pool-split", help="Splits to pick from (repeat); the others are held out."),
    annotated: list[Path] = typer.Option([], "--annotated", help=f"Corrections to skip, files or folders (default: {CORRECTED}/)."),
    heldout: Path = typer.Option(None, "--heldout", help="Held-out gold (e.g. corpus/test.spacy): record the model's F."),
    annotator: list[str] = typer.Option([], "--annotator", help="Member who annotates (repeat)."),
    push: bool = typer.Option(True, "--push/--no-push", help="Push to the project (needs the server)."),
    ledger: Path = typer.Option(None, "--ledger", help="Ledger of the rounds (default annotations/rounds/PROJECT.json)."),
    out: Path = typer.Option(None, "--out", "-o", help="Task file (default annotations/tasks/PROJECT-roundNN.jsonl)."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite OUT."),
    home: Path = HOME, venv: Path = VENV, url: str = URL, username: str = USER, password: str = PASSWORD,
) -> None:  # fmt: skip
    """Pick the next segments to annotate, pre-annotate them with the latest model and push them."""
    from zhner.loop import next_batch

    if not annotated and CORRECTED.is_dir():
        annotated = [CORRECTED]
    chosen_model = model or latest_model(fine_tuned, base)
    r = next_batch(
        project=project, segments=segments, splits=splits, model=chosen_model, size=size, strategy=strategy,
        unit=unit, seed=seed, pool_splits=pool_split, annotated=annotated, ledger=ledger, out=out,
        conn=doccano_connection(home, venv, url, username, password) if push else None, annotators=annotator,
        heldout=heldout, force=force, log=msg.info,
    )  # fmt: skip
    e = r.entry
    if r.moved:
        msg.warn(f"{len(r.moved)} segments of earlier rounds are now in held-out articles (e.g. {r.moved[0]}): "
                 "splits.json was dealt again since; held-out scores count them")  # fmt: skip
    if not r.resumed:
        extra = f", mean uncertainty {e.mean_uncertainty:.3f}" if e.mean_uncertainty is not None else ""
        msg.good(f"round {e.round}: {len(e.segments)} segments ({e.strategy}, by {e.unit}, seed {e.seed}{extra}) "
                 f"pre-annotated by {e.model} → {printable(e.tasks)}")  # fmt: skip
        if e.heldout_f is not None:
            msg.info(f"held-out strict F of {e.model} on {e.heldout}: {e.heldout_f:.3f}")
    if r.push is not None:
        p = r.push
        msg.good(f"pushed round {e.round} to {project!r}: {p.uploaded} uploaded, {p.already_there} already there, "
                 f"{p.spans_shared} spans shared with annotators")  # fmt: skip
    else:
        msg.info(f"not pushed: `zhner next-batch --project {project}` pushes it next time, or `zhner doccano push {e.tasks}`")
    msg.text(f"ledger: {printable(r.ledger)}")


@app.command("rounds")
@handle_errors
def rounds_cli(
    project: str = typer.Option(..., "--project", help="Doccano project of the rounds."),
    corrected: list[Path] = typer.Option([], "--corrected", help=f"Pulled corrections, files or folders (default: {CORRECTED}/)."),
    annotator: list[str] = ANNOTATORS,
    ledger: Path = typer.Option(None, "--ledger", help="Ledger of the rounds (default annotations/rounds/PROJECT.json)."),
    output: Path = REPORT_JSON,
    markdown: Path = typer.Option(None, "--markdown", help="Write the table as Markdown."),
    force: bool = FORCE_OUTPUTS,
) -> None:  # fmt: skip
    """Per round: segments, the annotators' effort (kept/fixed/relabelled/deleted/added) and held-out F."""
    from zhner.loop import render_rounds, rounds_report

    check_outputs(force, output, markdown)
    report = rounds_report(project=project, corrected=corrected or [CORRECTED], ledger=ledger, annotators=annotator)
    table = render_rounds(report)
    msg.text("\n".join(table.splitlines()[4:]))
    if output:
        write_json(output, report)
    if markdown:
        write_text(markdown, table)
