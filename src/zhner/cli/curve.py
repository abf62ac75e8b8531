"""`zhner train-curve`: F on the test documents for growing parts of the training data."""

from __future__ import annotations

from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides
from wasabi import table

from zhner.cli._app import app, handle_errors
from zhner.console import msg
from zhner.curve import FRACTIONS, train_curve


def _fractions(value: str) -> list[float]:
    try:
        return [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: expected comma-separated numbers such as 0.25,0.5,0.75,1"
        ) from None


@app.command(
    "train-curve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@handle_errors
def train_curve_cli(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="spaCy training config, e.g. configs/ner.cfg."),
    train: Path = typer.Option(Path("corpus/train.spacy"), "--train", help="Training documents (.spacy)."),
    dev: Path = typer.Option(
        Path("corpus/dev.spacy"), "--dev", help="Development documents for model selection."
    ),
    test: Path = typer.Option(Path("corpus/test.spacy"), "--test", help="Held-out documents to score on."),
    out: Path = typer.Option(
        Path("reports"), "--out", "-o", help="Directory for curve.json, curve.md, curve.png."
    ),
    fractions: str = typer.Option(
        ",".join(f"{f:g}" for f in FRACTIONS),
        "--fractions",
        help="Parts of the training data, comma-separated.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the order in which documents are taken."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1 for the CPU."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite existing outputs."),
) -> None:
    """Train on 25/50/75/100 % of the training documents and score each model on the test ones.

    Extra options override the config as with `spacy train`, e.g. `--training.max_epochs 5`.
    """
    overrides = parse_config_overrides(ctx.args)
    parts = _fractions(fractions)

    def report(step: dict) -> None:
        msg.good(
            f"{100 * step['fraction']:.0f} % ({step['docs']} docs): strict F {step['strict']['f']:.3f} "
            f"in {step['train_seconds']:.0f} s"
        )

    result = train_curve(
        config=config,
        train=train,
        dev=dev,
        test=test,
        out=out,
        fractions=parts,
        seed=seed,
        overrides=overrides,
        use_gpu=gpu_id,
        force=force,
        on_step=report,
    )
    rows = [
        [
            f"{100 * s['fraction']:.0f} %",
            s["docs"],
            f"{s['strict']['p']:.3f}",
            f"{s['strict']['r']:.3f}",
            f"{s['strict']['f']:.3f}",
        ]
        for s in result["steps"]
    ]
    msg.text(table(rows, header=["train data", "docs", "P", "R", "F (strict)"], divider=True))
    msg.text(f"Curve in {out}/: curve.md, curve.json, curve.png")
