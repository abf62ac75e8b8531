"""The typer app and its sub-apps; each command lives in its own module and only wraps a library call."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import typer

from zhner.console import logger, msg
from zhner.errors import ZhnerError
from zhner.interrupt import exit_may_block, signals_raise

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


def _interrupted(err: KeyboardInterrupt) -> typer.Exit:
    """One red line and the shell's exit code for the signal (130 for SIGINT, 143 for SIGTERM)."""
    signum = getattr(err, "signum", signal.SIGINT)
    msg.fail(f"interrupted by {signal.Signals(signum).name} (exit {128 + signum})")
    code = 128 + signum
    if exit_may_block():
        # multiprocessing's exit handlers would join queue feeder threads blocked for ever
        # writing to the workers the signal ended; every clean-up of ours has run by now
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return typer.Exit(code)


def _tolerant_stdio() -> None:
    """Print what cannot be encoded as escapes: a message naming a file must never crash after the work."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a ZhnerError into one red line and exit code 1: only the CLI decides exit codes.

    It also makes SIGINT and SIGTERM end the command through its clean-ups (exit 130 or 143).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _tolerant_stdio()
        try:
            with signals_raise():
                return func(*args, **kwargs)
        except ZhnerError as err:
            msg.fail(str(err))
            raise typer.Exit(1) from None
        except KeyboardInterrupt as err:
            raise _interrupted(err) from None

    return wrapper
