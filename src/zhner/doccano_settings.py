"""configs/doccano.yml: where the server lives and how the sync behaves."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from zhner.config import Strict, config_path, load_model


class ServerSettings(Strict):
    venv: Path = Path(".doccano/venv")
    home: Path = Path(".doccano/home")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    web_workers: int = Field(2, ge=1)
    start_timeout_s: float = Field(120, gt=0)
    admin_username: str = "admin"
    # PostgreSQL for a team server (postgresql://USER:PASSWORD@HOST:PORT/DB); None: SQLite in the home
    database_url: str | None = None
    # the address annotators' browsers use behind a reverse proxy (https://annotate.example.org)
    public_url: str | None = None

    def database(self) -> str | None:
        """$ZHNER_DOCCANO_DATABASE_URL, else database_url."""
        return os.environ.get("ZHNER_DOCCANO_DATABASE_URL") or self.database_url

    def venv_path(self) -> Path:
        return Path(os.environ.get("ZHNER_DOCCANO_VENV") or self.venv).absolute()

    def home_path(self) -> Path:
        return Path(os.environ.get("DOCCANO_HOME") or self.home).absolute()


class ProjectSettings(Strict):
    collaborative: bool = False
    grapheme_mode: bool = True
    allow_overlapping: bool = False


class SyncSettings(Strict):
    batch_size: int = Field(5000, ge=1)
    max_segment_chars: int = Field(10000, ge=1)
    task_timeout_s: float = Field(900, gt=0)
    http_timeout_s: float = Field(120, gt=0)


class DoccanoSettings(Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    project: ProjectSettings = Field(default_factory=ProjectSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)


def load_settings(path: Path | None = None) -> DoccanoSettings:
    """Load configs/doccano.yml; a missing default file means the built-in defaults."""
    path = path or config_path("doccano.yml")
    if not Path(path).exists():
        return DoccanoSettings()
    return load_model(path, DoccanoSettings)
