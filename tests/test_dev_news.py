"""The news dev set: rebuilt exactly from its hand-written file, well-formed, and never seen by the base's build."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from zhner.clean import normalize_text
from zhner.config import label_names
from zhner.io import read_jsonl
from zhner.pipeline.corpus import fetch_peoples_daily, read_corpus, split_lines, text_of
from zhner.schemas import Task

LABELS = label_names()


@pytest.fixture(scope="module")
def dev(repo_root: Path) -> list[Task]:
    return list(read_jsonl(repo_root / "annotations" / "gold" / "dev_news.jsonl", Task))


def test_rebuilding_from_the_hand_written_file_gives_the_same_records(repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev_news.jsonl"
    subprocess.run(
        [sys.executable, "annotations/gold/build.py", "--set", "dev_news", "--out", str(out)],
        cwd=repo_root, check=True, capture_output=True,
    )
    assert out.read_bytes() == (repo_root / "annotations" / "gold" / "dev_news.jsonl").read_bytes()


def test_size_and_every_label_present(dev: list[Task]) -> None:
    counts = Counter(label for t in dev for _, _, label in t.label)
    assert len(dev) >= 300
    assert set(counts) == set(LABELS) and min(counts.values()) >= 50


def test_spans_well_formed(dev: list[Task]) -> None:
    ids = [t.meta.segment_id for t in dev]
    assert len(set(ids)) == len(ids)
    for t in dev:
        previous_end = 0
        for start, end, label in t.label:
            piece = t.text[start:end]
            assert previous_end <= start < end <= len(t.text), t.meta.segment_id
            assert piece == piece.strip() and piece[0] not in "“”\"《》（）()", (t.meta.segment_id, piece)
            previous_end = end


def test_people_s_daily_lines_come_from_the_base_s_held_out_split(repo_root: Path, dev: list[Task]) -> None:
    """The base trains on `train` and chooses on `dev` lines: the dev set may only hold held-out ones."""
    corpus_cfg = yaml.safe_load((repo_root / "configs" / "bootstrap.yml").read_text(encoding="utf-8"))["corpus"]
    lines = read_corpus(fetch_peoples_daily())
    split = split_lines(len(lines), dev=corpus_cfg["dev"], heldout=corpus_cfg["heldout"],
                        block=corpus_cfg["block"], seed=corpus_cfg["seed"])
    heldout = set(split.heldout)
    pd = [t for t in dev if t.meta.segment_id.startswith("pd199801-")]
    assert len(pd) >= 150
    for t in pd:
        index = int(t.meta.segment_id.split("-")[1]) - 1
        assert index in heldout, t.meta.segment_id
        assert normalize_text(text_of(lines[index])).strip() == t.text


def test_modern_part_is_not_in_the_training_corpus(dev: list[Task]) -> None:
    corpus = "".join(normalize_text(text_of(line)) for line in read_corpus(fetch_peoples_daily()))
    modern = [t for t in dev if not t.meta.segment_id.startswith("pd199801-")]
    assert len(modern) >= 150
    assert not [t.meta.segment_id for t in modern if t.text in corpus]
