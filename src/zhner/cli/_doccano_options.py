"""Options and the connection shared by the commands that talk to Doccano or report on its pulls (cli/doccano.py, cli/rounds.py),
as spaCy keeps the CLI's shared options in `spacy/cli/_util.py`."""

from __future__ import annotations

from pathlib import Path

import typer

from zhner.doccano import sync
from zhner.doccano_settings import load_settings

HOME = typer.Option(None, "--home", help="DOCCANO_HOME (database, logs); default from configs/doccano.yml.")
VENV = typer.Option(None, "--venv", help="Doccano's own virtual environment; default .doccano/venv.")
URL = typer.Option(None, "--url", envvar="ZHNER_DOCCANO_URL", help="Server URL; default: the local server.")
USER = typer.Option(None, "--username", envvar="ZHNER_DOCCANO_USERNAME", help="Doccano user (default: local admin).")
PASSWORD = typer.Option(None, "--password", envvar="ZHNER_DOCCANO_PASSWORD", help="Its password.", show_default=False)

# the reports on a pull (agreement, corrections, annotators, rounds)
ANNOTATORS = typer.Option([], "--annotator", help="Only these annotators (repeat); default all.")
REPORT_JSON = typer.Option(None, "--output", help="Write the report as JSON.")
FORCE_OUTPUTS = typer.Option(False, "--force", "-F", help="Overwrite the output files.")


def doccano_paths(home: Path | None, venv: Path | None) -> tuple[Path, Path]:
    """The Doccano home and venv: the options' values, else configs/doccano.yml's."""
    cfg = load_settings().server
    return (home.absolute() if home else cfg.home_path()), (venv.absolute() if venv else cfg.venv_path())


def doccano_connection(home: Path | None, venv: Path | None, url: str | None, username: str | None,
                       password: str | None) -> sync.Connection:
    """The connection the options describe (the local server unless --url)."""
    home_p, venv_p = doccano_paths(home, venv)
    return sync.local_connection(home=home_p, venv=venv_p, url=url, username=username, password=password,
                                 timeout=load_settings().sync.http_timeout_s)
