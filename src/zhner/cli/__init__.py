"""Command-line interface; importing the command modules registers them on the app."""

from zhner.cli._app import app, doccano_app
from zhner.cli import ingest  # noqa: F401  (registers `zhner ingest`)
from zhner.cli import convert  # noqa: F401  (registers `zhner convert`)
from zhner.cli import curve  # noqa: F401  (registers `zhner train-curve`)
from zhner.cli import evaluate  # noqa: F401  (registers `zhner evaluate`)
from zhner.cli import doccano  # noqa: F401  (registers `zhner doccano ...`, `agreement`, `corrections`)
from zhner.cli import bootstrap, preannotate  # noqa: F401  (registers `zhner bootstrap`, `zhner preannotate`)
from zhner.cli import apply  # noqa: F401  (registers `zhner apply`)
from zhner.cli import loop  # noqa: F401  (registers `zhner doccano annotate-gold|round`, `zhner silver-export`)
from zhner.cli import rounds  # noqa: F401  (registers `zhner next-batch`, `zhner rounds`)

__all__ = ["app", "doccano_app"]
