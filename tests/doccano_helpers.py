"""Helpers of the Doccano tests: the local test server handle, task builders."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from zhner.doccano import server
from zhner.doccano.sync import Connection
from zhner.schemas import Span, Task, TaskMeta

REPO = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("ZHNER_DOCCANO_VENV") or REPO / ".doccano" / "venv")
ANNOTATORS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2"}


@dataclass
class LocalServer:
    url: str
    home: Path
    venv: Path
    username: str
    password: str
    port: int

    def conn(self, **kw: object) -> Connection:
        return Connection(url=self.url, username=self.username, password=self.password, home=self.home, venv=self.venv, **kw)

    def annotator_conn(self, name: str) -> Connection:
        return Connection(url=self.url, username=name, password=ANNOTATORS[name])

    def restart(self) -> None:
        server.stop(home=self.home)
        server.start(venv=self.venv, home=self.home, port=self.port, workers=2)


def require_doccano() -> Path:
    """Skip when Doccano is not installed, unless $CI is set: then its absence fails the run."""
    if not server.is_installed(VENV):
        reason = f"Doccano is not installed in {VENV}: run `zhner doccano install`"
        if os.environ.get("CI"):
            pytest.fail(reason + " ($CI is set, so this is an error, not a skip)")
        pytest.skip(reason)
    return VENV



def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def make_task(segment_id: str, text: str, spans: list[tuple[int, int, str]]) -> Task:
    meta = TaskMeta(
        segment_id=segment_id, article_id=segment_id.split("-")[0], text_sha1=sha1(text), model="test",
        model_version="1", spans=[Span(start=s, end=e, label=lab, source="model", score=0.9) for s, e, lab in spans],
    )  # fmt: skip
    return Task(text=text, label=list(spans), meta=meta)


def write_tasks(path: Path, tasks: list[Task]) -> Path:
    from zhner.io import write_jsonl

    write_jsonl(path, tasks)
    return path
