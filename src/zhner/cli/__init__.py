"""Command-line interface; importing the command modules registers them on the app."""

from zhner.cli._app import app, doccano_app

__all__ = ["app", "doccano_app"]
