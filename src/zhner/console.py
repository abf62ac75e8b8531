"""The one printer for users and the one logger for diagnostics.

The printer has wasabi's vocabulary (good/warn/fail/info/text/divider/table), as spaCy's CLI,
but prints through rich with soft wrapping: wasabi wraps every message at 80 columns, and an
error must stay one greppable line in a CI log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

logger = logging.getLogger("zhner")


class Printer:
    """Messages for people: one line each, coloured only on a terminal."""

    def __init__(self) -> None:
        self.out = Console(soft_wrap=True, highlight=False)
        self.err = Console(soft_wrap=True, highlight=False, stderr=True)

    def _say(self, icon: str, style: str, text: str, console: Console | None = None) -> None:
        (console or self.out).print(f"[{style}]{icon}{escape(str(text))}[/{style}]" if style else escape(str(text)))

    def good(self, text: str) -> None:
        self._say("✔ ", "green", text)

    def info(self, text: str) -> None:
        self._say("ℹ ", "blue", text)

    def warn(self, text: str) -> None:
        self._say("⚠ ", "yellow", text)

    def fail(self, text: str) -> None:
        self._say("✘ ", "red", text)

    def text(self, text: str) -> None:
        self._say("", "", text)

    def divider(self, title: str = "") -> None:
        self.out.rule(escape(title), style="dim")

    def table(self, rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> None:
        """A plain-text table (markdown pipes), readable in a terminal and a CI log alike."""
        if header:
            self.text("| " + " | ".join(map(str, header)) + " |")
            self.text("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.text("| " + " | ".join(map(str, row)) + " |")


msg = Printer()


def progress(disable: bool = False) -> Progress:
    """A progress bar for long loops; hidden when `disable` or when stderr is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=disable or not sys.stderr.isatty(),
        transient=True,
    )
