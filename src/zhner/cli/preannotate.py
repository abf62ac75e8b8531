"""`zhner preannotate`: segments → Doccano-ready task JSONL proposed by a spaCy pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.cli._app import app, handle_errors
from zhner.console import msg, progress
from zhner.errors import printable
from zhner.preannotate import count_segments, preannotate


@app.command("preannotate")
@handle_errors
def preannotate_cli(
    segments: Path = typer.Argument(..., help="Segments JSONL (corpus/segments.jsonl from `zhner ingest`)."),
    model: str = typer.Option("models/zh_news_base", "--model", "-m",
                              help="spaCy pipeline: a path or an installed package name (e.g. zh_core_web_trf)."),
    out: Path = typer.Option(..., "--out", "-o", help="Task JSONL to write, e.g. annotations/tasks/NAME.jsonl."),
    mapping: str = typer.Option("ontonotes", "--mapping", help="Label mapping of configs/labels.yml for foreign labels."),
    scores: bool = typer.Option(True, "--scores/--no-scores", help="Score model entities with a small beam."),
    all_scores: bool = typer.Option(False, "--all-scores", help="Beam-score every segment and record the "
                                    "probability of the model's analysis (what `zhner next-batch` ranks uncertainty by)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Segments per nlp.pipe batch."),
    n_process: int = typer.Option(1, "--n-process", "-j", min=1, help="Worker processes."),
    max_chars: int = typer.Option(
        None, "--max-chars", min=1, help="Longest text push takes (default: sync.max_segment_chars, doccano.yml)."
    ),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite an existing output file."),
) -> None:
    """Propose ORG, GPE, LOC, DATE and QUANTITY spans for every segment."""
    total = count_segments(segments) if segments.is_file() else 0  # a pipe is read once, by preannotate
    with progress(disable=total < 200) as bar:
        task = bar.add_task("Pre-annotating", total=total)
        summary = preannotate(
            segments=segments, model=model, out=out, force=force, mapping=mapping, scores=scores,
            all_scores=all_scores, batch_size=batch_size, n_process=n_process, max_chars=max_chars,
            on_batch=lambda n: bar.advance(task, n),
        )
    labels = ", ".join(f"{k} {v}" for k, v in sorted(summary.labels.items())) or "none"
    sources = ", ".join(f"{k} {v}" for k, v in sorted(summary.sources.items())) or "none"
    msg.good(f"{summary.tasks} tasks ({summary.characters:,} characters) → {printable(summary.out)}")
    msg.text(f"Model {summary.model} {summary.model_version}; spans: {labels}; sources: {sources}")
    if summary.dropped_labels:
        dropped = ", ".join(f"{k} {v}" for k, v in summary.dropped_labels.most_common())
        msg.text(f"Labels outside the scheme, dropped: {dropped}")
