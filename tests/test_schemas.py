"""The shared records of schemas.py and their one reader/writer: splits.json, text_sha1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from zhner.errors import ZhnerError
from zhner.io import read_splits, write_splits
from zhner.schemas import Splits, text_sha1


def test_text_sha1_is_the_sha1_of_the_utf8_bytes() -> None:
    assert text_sha1("北京𠮷") == hashlib.sha1("北京𠮷".encode()).hexdigest()


def test_splits_round_trip_and_duplicates_follow_their_article(tmp_path: Path) -> None:
    splits = Splits(seed=13, ratios={"train": 0.7, "dev": 0.15, "test": 0.15}, pinned_test=["c"],
                    articles={"a": "train", "c": "test"}, duplicates={"d": "train"})  # fmt: skip
    path = tmp_path / "splits.json"
    write_splits(path, splits)
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["seed", "ratios", "pinned_test", "articles", "duplicates"]
    assert read_splits(path).model_dump(exclude={"ratios"}) == splits.model_dump(exclude={"ratios"})
    assert read_splits(path).split_of() == {"a": "train", "c": "test", "d": "train"}


def test_a_minimal_splits_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"articles": {"a": "dev"}}), encoding="utf-8")
    assert read_splits(path).split_of() == {"a": "dev"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [("{x", "ValueError"), ('{"articles": {"a": "trian"}}', "articles.a"), ("{}", "articles: Field required")],
)
def test_a_bad_splits_file_is_E412_naming_why(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "splits.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ZhnerError, match=rf"E412.*{reason}"):
        read_splits(path)


def test_a_missing_splits_file_is_E004(tmp_path: Path) -> None:
    with pytest.raises(ZhnerError, match="E004"):
        read_splits(tmp_path / "none.json")
