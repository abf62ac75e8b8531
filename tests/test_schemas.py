"""The shared records of schemas.py and their one reader/writer: splits.json, text_sha1, the span checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from zhner.errors import ZhnerError
from zhner.io import read_splits, write_splits
from zhner.schemas import Splits, Task, check_spans, text_sha1


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


TEXT = "西藏自治区 拉萨市"  # the space at 5 is the only whitespace


def test_each_span_is_kept_or_refused_with_one_reason_in_offset_order() -> None:
    spans = [(6, 9, "GPE"), (0, 5, "GPE"), (3, 7, "LOC"), (5, 6, "GPE"), (2, 4, "PER"), (8, 20, "GPE")]
    kept, problems = check_spans(spans, TEXT, labels={"GPE", "LOC"}, blank_ok=False)
    assert kept == [(0, 5, "GPE"), (6, 9, "GPE")]
    assert [(p.span, p.reason) for p in problems] == [
        ((2, 4, "PER"), "unknown label 'PER'"),
        ((3, 7, "LOC"), "overlaps [0, 5, 'GPE']"),
        ((5, 6, "GPE"), "covers only whitespace (' ')"),
        ((8, 20, "GPE"), "offsets outside the text (length 9)"),
    ]
    assert [p.message("label") for p in problems] == [
        "unknown label 'PER' in span [2, 4, 'PER'] (known: GPE, LOC)",
        "spans [0, 5, 'GPE'] and [3, 7, 'LOC'] overlap; entities may not overlap or nest",
        "span [5, 6, 'GPE'] in label covers only whitespace (' ')",
        "span [8, 20, 'GPE'] in label is outside the text (length 9)",
    ]


def test_what_is_not_asked_for_is_not_checked() -> None:
    spans = [(0, 5, "PER"), (3, 7, "LOC"), (5, 6, "GPE")]
    assert check_spans(spans, TEXT, overlap_ok=True) == (sorted(spans), [])


@pytest.mark.parametrize("span", [(3, 3, "GPE"), (4, 2, "GPE"), (-1, 2, "GPE"), (0, 10, "GPE")])
def test_a_task_with_a_span_not_inside_its_text_is_refused_on_reading(span: tuple[int, int, str]) -> None:
    row = {"text": TEXT, "label": [span], "meta": {"segment_id": "a-000-00", "article_id": "a", "text_sha1": "x"}}
    with pytest.raises(ValidationError, match=r"is outside the text \(length 9\)"):
        Task.model_validate(row)
