"""The one printer for users (wasabi, as spaCy's CLI) and the one logger for diagnostics."""

from __future__ import annotations

import logging

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from wasabi import Printer

msg = Printer()
logger = logging.getLogger("zhner")


def progress(disable: bool = False) -> Progress:
    """A progress bar for long loops; rich hides it when output is not a terminal and `disable` is set."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=disable,
        transient=True,
    )
