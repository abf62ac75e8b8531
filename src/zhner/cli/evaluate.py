"""`zhner evaluate`: score a pipeline on gold documents, compare it with a baseline, gate CI on it."""

from __future__ import annotations

from pathlib import Path

import typer
from wasabi import table

from zhner.cli._app import app, handle_errors
from zhner.console import msg
from zhner.errors import printable
from zhner.evaluate import evaluate
from zhner.scoring import SCHEMES

GATE_FAILED = 3  # exit codes: 0 passed (or no baseline), 1 error, 2 usage, 3 gate failed


@app.command("evaluate")
@handle_errors
def evaluate_cli(
    model: str = typer.Argument(..., help="spaCy pipeline to evaluate: a path or an installed package name."),
    data: Path = typer.Argument(..., help="Gold documents: a .spacy DocBin such as corpus/test.spacy."),
    baseline: str = typer.Option(None, "--baseline", "-b", help="Pipeline to compare with (path or name)."),
    out: Path = typer.Option(
        Path("reports"), "--out", "-o", help="Directory for report.md/json, errors.html, PNG."
    ),
    max_drop: float = typer.Option(
        0.01, "--max-drop", help="Fail (exit 3) when strict micro F is more than this below the baseline's."
    ),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite existing report files."),
) -> None:
    """P/R/F (strict, exact, partial, type), confusion, boundary errors; exit 3 below the baseline."""
    metrics = evaluate(model=model, data=data, baseline=baseline, max_drop=max_drop, out=out, force=force)
    m, b = metrics["model"], metrics["baseline"]
    header = ["scheme", "P", "R", "F"] + (["baseline F"] if b else [])
    rows = [
        [s, f"{m[s]['p']:.3f}", f"{m[s]['r']:.3f}", f"{m[s]['f']:.3f}"] + ([f"{b[s]['f']:.3f}"] if b else [])
        for s in SCHEMES
    ]
    msg.text(table(rows, header=header, divider=True))
    msg.text(f"Reports in {printable(out)}/: report.md, report.json, errors.html, per_label_f.png")
    gate = metrics["gate"]
    if gate is None:
        return
    line = (
        f"strict micro F {m['strict']['f']:.3f} vs baseline {b['strict']['f']:.3f} "
        f"(drop {gate['drop']:+.3f}, allowed {gate['max_drop']:.3f})"
    )
    if gate["passed"]:
        msg.good(f"Gate passed: {line}")
    else:
        msg.fail(f"Gate failed: {line}")
        raise typer.Exit(GATE_FAILED)
