"""`zhner ingest`: raw news files → corpus/ (articles, segments, duplicates, splits)."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.cli._app import app, handle_errors
from zhner.console import msg, progress
from zhner.errors import fail, printable
from zhner.ingest import discover, ingest, load_ingest_config


@app.command("ingest")
@handle_errors
def ingest_cli(
    inputs: list[Path] = typer.Argument(..., help="Files or directories of raw news articles."),
    out: Path = typer.Option(Path("corpus"), "--out", "-o", help="Output directory."),
    config: Path = typer.Option(None, "--config", "-c", help="Ingest config (default: configs/ingest.yml)."),
    pin_test: list[str] = typer.Option([], "--pin-test", help="File name or article id always in the test split."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite existing outputs."),
) -> None:
    """Clean, deduplicate, segment and split raw Chinese news articles."""
    cfg = load_ingest_config(config)
    total = len(discover(inputs))
    with progress(disable=total < 50) as bar:
        task = bar.add_task("Ingesting", total=total)
        result = ingest(inputs, out, config=cfg, pin_test=pin_test, force=force, on_file=lambda _: bar.advance(task))
    for rejected in result.rejected:
        msg.warn(f"[{rejected.code}] {rejected.reason}")
    if not result.articles:  # a corpus of nothing is a failure, said in red like the others
        raise fail("E108", files=result.files, rejected=len(result.rejected), path=out / "rejected.json")
    dupes = sum(len(g.members) - 1 for g in result.groups)
    counts = {s: list(result.splits.articles.values()).count(s) for s in ("train", "dev", "test")}
    msg.good(
        f"{len(result.articles)} articles, {len(result.segments)} segments from {result.files} files "
        f"({dupes} near-duplicates grouped, {len(result.rejected)} rejected) → {printable(out)}"
    )
    msg.text(f"Splits: {counts['train']} train, {counts['dev']} dev, {counts['test']} test")
