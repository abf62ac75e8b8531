"""`zhner apply`: a trained pipeline over a whole archive → entity shards (JSONL) and a manifest."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from zhner.apply import apply
from zhner.cli._app import app, handle_errors
from zhner.console import msg, progress
from zhner.errors import printable

MAX_FAILURES_SHOWN = 10


class Engine(str, Enum):
    local = "local"
    dask = "dask"


@app.command("apply")
@handle_errors
def apply_cli(
    model: str = typer.Argument(..., help="spaCy pipeline: a path, an installed package name, or `lac`."),
    inputs: list[Path] = typer.Argument(
        ..., help="Segments JSONL (corpus/segments.jsonl), articles JSONL (corpus/articles.jsonl), any JSONL "
        "with id and text, or .txt files (one document per line); folders: their *.jsonl and *.txt."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: shards/*.jsonl and manifest.json."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (this machine) or dask (distributed)."),
    n_process: int = typer.Option(1, "--n-process", "-j", min=1, help="local: worker processes."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="dask: workers of a local cluster on 127.0.0.1."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="dask: a running scheduler's address (tcp://HOST:8786) instead of a local cluster."
    ),
    dashboard: str = typer.Option("127.0.0.1:8787", "--dashboard", help="dask: where the local cluster's dashboard listens."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Documents per shard (the unit of resuming)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Documents per nlp.pipe batch."),
    mapping: str = typer.Option("ontonotes", "--mapping", help="Label mapping of configs/labels.yml for foreign labels."),
    scores: bool = typer.Option(True, "--scores/--no-scores", help="Score model entities with a small beam."),
    force: bool = typer.Option(False, "--force", "-F", help="Start over: remove the shards of an earlier job in --out."),
) -> None:
    """Find ORG, GPE, LOC, DATE and QUANTITY in every document; a second run resumes the first."""
    with progress() as bar:
        task = bar.add_task("Applying", total=None)
        summary = apply(
            model=model, inputs=inputs, out=out, engine=engine.value, n_process=n_process, workers=workers,
            scheduler=scheduler, dashboard=dashboard, shard_size=shard_size, batch_size=batch_size,
            mapping=mapping, scores=scores, force=force,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_cluster=lambda address, link: msg.info(
                f"Dask scheduler {address}; dashboard {link or 'not served (install bokeh where the scheduler runs)'}"
            ),
        )
    rate = f", {summary.characters / summary.seconds:,.0f} characters/s" if summary.seconds and summary.written else ""
    msg.good(
        f"{summary.written} shards written ({summary.records:,} documents, {summary.characters:,} characters{rate}), "
        f"{summary.skipped} already complete, of {summary.shards} → {printable(summary.out)}"
    )
    labels = ", ".join(f"{k} {v}" for k, v in sorted(summary.labels.items())) or "none"
    n = len(summary.processes)
    msg.text(f"Model {summary.model} {summary.model_version}; engine {summary.engine}, shards run in {n} "
             f"process{'es' if n != 1 else ''}; entities written: {labels}")
    if summary.removed:
        msg.text(f"Removed {summary.removed} shards beyond the end of the input (it is shorter than last time)")
    if summary.dropped_labels:
        dropped = ", ".join(f"{k} {v}" for k, v in summary.dropped_labels.most_common())
        msg.text(f"Labels outside the scheme, dropped: {dropped}")
    for index, error in summary.failed[:MAX_FAILURES_SHOWN]:
        msg.fail(f"shard {index}: {error}")
    if len(summary.failed) > MAX_FAILURES_SHOWN:
        msg.fail(f"… and {len(summary.failed) - MAX_FAILURES_SHOWN} more failed shards (listed in manifest.json)")
    summary.raise_for_failures()
