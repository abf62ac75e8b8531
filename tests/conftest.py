"""Fixtures shared by all test modules (defined once here, as spaCy's test suite does)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SEED_FILES = {name[:3]: SEEDS / name for name in sorted(p.name for p in SEEDS.glob("*.txt"))}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def seed_files() -> dict[str, Path]:
    """The five seed articles by their prefix: '000' … '004'."""
    return SEED_FILES


@pytest.fixture()
def seeds_copy(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may add files to."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/ as `zhner ingest seeds/` writes it, built once per test session."""
    from zhner.ingest import ingest

    out = tmp_path_factory.mktemp("corpus")
    ingest([SEEDS], out)
    return out
