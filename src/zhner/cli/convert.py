"""`zhner convert`: corrected Doccano JSONL → train/dev/test .spacy files, by the article split."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zhner.cli._app import app, handle_errors
from zhner.console import msg
from zhner.convert import POLICIES, SPLITS, ConvertSummary, convert

Policy = Enum("Policy", {p: p for p in POLICIES}, type=str)  # typer shows the choices


@app.command("convert")
@handle_errors
def convert_cli(
    inputs: list[Path] = typer.Argument(
        ..., help="Corrected JSONL files (Doccano export or `zhner doccano pull`), or directories of them."
    ),
    out: Path = typer.Option(
        Path("corpus"), "--out", "-o", help="Directory for train.spacy, dev.spacy, test.spacy."
    ),
    splits: Path = typer.Option(
        Path("corpus/splits.json"), "--splits", help="Article split written by `zhner ingest`."
    ),
    model: str = typer.Option(
        "models/zh_news_base", "--model", "-m", help="Pipeline whose tokenizer the corpus uses."
    ),
    misaligned: Policy = typer.Option(
        "expand", "--misaligned", help="What to do with a span not on token boundaries."
    ),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite existing outputs."),
) -> None:
    """Tokenise corrected tasks with the pipeline to train and write DocBins by the article split."""
    summary = convert(inputs, out, splits=splits, model=model, misaligned=misaligned.value, force=force)
    print_summary(summary)


def print_summary(s: ConvertSummary) -> None:
    """A `spacy debug data`-like account: sizes per split, entities per label, misaligned spans."""
    msg.divider("Data")
    msg.good(f"{s.records} records from {len(s.files)} files, tokenised by {s.model}")
    if s.duplicates:
        msg.warn(f"{len(s.duplicates)} segments appear more than once; the later record was kept")
        for d in s.duplicates:
            msg.text(f"  {d}")
    if s.trimmed_spans:
        msg.info(f"{s.trimmed_spans} spans had surrounding whitespace trimmed")
    labels = sorted({label for per in s.entities.values() for label in per})
    rows = [
        [split, s.docs[split], s.tokens[split], *(s.entities[split].get(label, 0) for label in labels)]
        for split in SPLITS
    ]
    print_table(["split", "docs", "tokens", *labels], rows)
    for split in SPLITS:
        if not s.docs[split]:
            msg.warn(f"no documents in {split}: no annotated article is assigned to it")
    msg.divider("Entities not on token boundaries")
    if not s.misaligned:
        msg.good("every entity falls on token boundaries")
    else:
        counts = ", ".join(f"{k} {n}" for k, n in sorted(s.outcomes.items()))
        msg.warn(f"{len(s.misaligned)} entities not on token boundaries (policy {s.policy}): {counts}")
        rows = [
            [
                m.where,
                m.segment_id,
                m.label,
                m.text,
                " ".join(m.tokens),
                m.outcome + (f" → {m.result}" if m.result else ""),
            ]
            for m in s.misaligned
        ]
        print_table(["record", "segment", "label", "text", "cuts tokens", "outcome"], rows)
    if s.rejected_docs:
        msg.warn(f"{len(s.rejected_docs)} documents left out: {', '.join(s.rejected_docs)}")
    if s.user_dict_words:
        msg.info(
            f"{len(s.user_dict_words)} words added to the pkuseg user dictionary ({s.outputs['user_dict']}); "
            "a pipeline that should cut these words at inference needs them in its own user dictionary"
        )
    msg.good(
        "Wrote " + ", ".join(s.outputs[k] for k in SPLITS) + f" (misaligned spans: {s.outputs['misaligned']})"
    )


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain table that lines up Chinese text (rich counts double-width characters; wasabi does not)."""
    grid = Table(*header, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))  # Text: user strings are never read as markup
    # in a CI log there is no terminal width to respect: keep one record per line
    Console(width=None if sys.stdout.isatty() else 240, highlight=False).print(grid)
