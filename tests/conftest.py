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


@pytest.fixture(scope="session")
def ontonotes_pipeline(tmp_path_factory) -> Path:
    """A foreign pipeline with OntoNotes labels (as zh_core_web_* predict them)."""
    import spacy

    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "ORG", "pattern": "新华社"},
        {"label": "GPE", "pattern": "北京"},
        {"label": "FAC", "pattern": "拉萨"},
        {"label": "MONEY", "pattern": "6万余元"},
        {"label": "PERSON", "pattern": "总理"},
        {"label": "NORP", "pattern": "美国"},
    ])
    nlp.meta["name"] = "onto_demo"
    nlp.meta["version"] = "3.2.1"
    path = tmp_path_factory.mktemp("onto") / "onto_demo"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="session")
def ner_pipeline(tmp_path_factory) -> Path:
    """A small NER trained here on character tokens, enough to predict its training entities."""
    import spacy
    from spacy.training import Example
    from spacy.util import fix_random_seed

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("ner")
    gold = [
        ("新华社北京电，国务院总理在北京会见了美国客人。", [(0, 3, "ORG"), (3, 5, "GPE"), (7, 10, "ORG"), (13, 15, "GPE")]),
        ("中国人民银行今天在上海宣布新的政策。", [(0, 6, "ORG"), (6, 8, "DATE"), (9, 11, "GPE")]),
    ]
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": ents}) for t, ents in gold]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    nlp.meta["name"] = "tiny_ner"
    path = tmp_path_factory.mktemp("ner") / "tiny_ner"
    nlp.to_disk(path)
    return path
