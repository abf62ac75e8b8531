"""The typer app and its sub-apps; each command lives in its own module and only wraps a library call."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import typer

from zhner.console import logger, msg
from zhner.errors import ZhnerError

app = typer.Typer(
    name="zhner",
    help="Chinese news NER: ingest articles, pre-annotate, correct in Doccano, train and evaluate spaCy models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
doccano_app = typer.Typer(help="Run a local Doccano server and sync tasks with it.", no_args_is_help=True)
app.add_typer(doccano_app, name="doccano")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log diagnostics (DEBUG) to stderr.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a ZhnerError into one red line and exit code 1: only the CLI decides exit codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ZhnerError as err:
            msg.fail(str(err))
            raise typer.Exit(1) from None

    return wrapper
