"""The hand-annotated gold of the seed articles: complete, aligned with a fresh ingest, well-formed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zhner.config import load_labels
from zhner.io import read_jsonl
from zhner.schemas import Article, Segment, Task

# The articles by their content id (stable while the cleaned body is): 000 西藏 党史学习教育,
# 001 西藏 主题教育, 003 区(中)直机关 民族团结, 004 张掖 党史学习教育.
A000, A001, A003, A004 = "e3cc44ae6b909eee", "6d49879b9311e914", "0771f3acfdcdc915", "3ff563ea2db13f33"


@pytest.fixture(scope="module")
def gold(repo_root: Path) -> list[Task]:
    return list(read_jsonl(repo_root / "annotations" / "gold" / "seeds.jsonl", Task))


@pytest.fixture(scope="module")
def segments(seed_corpus: Path) -> list[Segment]:
    return list(read_jsonl(seed_corpus / "segments.jsonl", Segment))


@pytest.fixture(scope="module")
def by_segment(gold: list[Task]) -> dict[str, Task]:
    return {t.meta.segment_id: t for t in gold}


def entities(task: Task) -> list[tuple[str, str]]:
    """The (text, label) pairs of a record, in text order."""
    return [(task.text[s:e], label) for s, e, label in task.label]


def test_one_record_per_segment_in_corpus_order(gold: list[Task], segments: list[Segment]) -> None:
    assert [t.meta.segment_id for t in gold] == [s.id for s in segments]
    for task, seg in zip(gold, segments):
        assert task.text == seg.text, seg.id
        assert task.meta.article_id == seg.article_id
        assert task.meta.text_sha1 == hashlib.sha1(seg.text.encode("utf-8")).hexdigest()


def test_covers_exactly_the_four_canonical_articles(gold: list[Task], seed_corpus: Path) -> None:
    articles = list(read_jsonl(seed_corpus / "articles.jsonl", Article))
    assert sorted(a.file[:3] for a in articles) == ["000", "001", "003", "004"]
    assert {t.meta.article_id for t in gold} == {a.id for a in articles} == {A000, A001, A003, A004}


def test_labels_are_those_of_the_scheme(gold: list[Task]) -> None:
    scheme = set(load_labels().labels)
    used = {label for t in gold for _, _, label in t.label}
    assert used == scheme  # every label of the scheme occurs, and no other


def test_spans_sorted_without_overlap_and_trimmed(gold: list[Task]) -> None:
    for t in gold:
        starts = [s for s, _, _ in t.label]
        assert starts == sorted(starts), t.meta.segment_id
        for (_, e1, _), (s2, _, _) in zip(t.label, t.label[1:]):
            assert e1 <= s2, f"{t.meta.segment_id}: overlapping spans"
        for s, e, _ in t.label:
            span = t.text[s:e]
            # quotes and brackets only inside a name that goes on after them (“两路”精神纪念馆)
            assert span == span.rstrip(" \u3000,，。、;；:：“”《》()（）"), span
            assert span == span.lstrip(" \u3000,，。、;；:：”《》()（）"), span
            assert not span.startswith("“") or "”" in span[1:-1], span


def test_label_equals_meta_spans_from_gold(gold: list[Task]) -> None:
    for t in gold:
        assert t.label == [s.as_triple() for s in t.meta.spans], t.meta.segment_id
        assert all(s.source == "gold" and s.score is None for s in t.meta.spans)
        assert t.meta.model is None and t.meta.model_version is None


def test_same_string_same_label_everywhere(gold: list[Task]) -> None:
    labels: dict[str, set[str]] = {}
    for t in gold:
        for text, label in entities(t):
            labels.setdefault(text, set()).add(label)
    assert {k: v for k, v in labels.items() if len(v) > 1} == {}


def test_every_article_has_each_kind_of_entity(gold: list[Task]) -> None:
    for article in (A000, A001, A003, A004):
        used = {label for t in gold if t.meta.article_id == article for _, _, label in t.label}
        assert {"ORG", "GPE", "DATE", "QUANTITY"} <= used, article


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        # the party committee is one organisation, not a place followed by 党委; 党中央 is ORG
        (f"{A000}-003-00", [("党中央", "ORG"), ("西藏自治区党委", "ORG"), ("党中央", "ORG")]),
        # a chain of divisions is one GPE; the patrol team after it is no organisation
        (
            f"{A000}-011-00",
            [
                ("3月26日上午", "DATE"),
                ("党史学习教育中央宣讲团", "ORG"),
                ("拉萨", "GPE"),
                ("726个", "QUANTITY"),
                ("2万余名", "QUANTITY"),
                ("日喀则市萨嘎县昌果乡", "GPE"),
            ],
        ),
        (
            f"{A000}-004-00",
            [("2月21日上午", "DATE"), ("西藏自治区", "GPE"), ("自治区党史学习教育领导小组", "ORG"), ("区党委", "ORG")],
        ),
        (f"{A000}-012-00", [("今年", "DATE"), ("西藏", "GPE"), ("62周年", "QUANTITY"), ("西藏自治区民族事务委员会", "ORG")]),
        (
            f"{A000}-013-00",
            [
                ("3月28日", "DATE"),
                ("2700平方米", "QUANTITY"),
                ("西藏百万农奴解放纪念馆", "LOC"),
                ("拉萨", "GPE"),
                ("几天", "DATE"),
                ("1.2万余人次", "QUANTITY"),
            ],
        ),
        (f"{A000}-014-00", [("清明节期间", "DATE"), ("西藏军区", "ORG")]),
        (
            f"{A000}-018-00",
            [
                ("国家统计局拉萨调查队", "ORG"),
                ("尼木县普松村", "GPE"),
                ("今年", "DATE"),
                ("拉萨市", "GPE"),  # 农业农村部门 is generic
                ("普松村", "GPE"),
                ("12吨", "QUANTITY"),
                ("6万余元", "QUANTITY"),
            ],
        ),
        (
            f"{A001}-005-00",
            [("4月24日至29日", "DATE"), ("西藏自治区", "GPE"), ("西藏", "GPE"), ("90家", "QUANTITY")],
        ),
        (f"{A003}-021-01", [("区气象局", "ORG"), ("西藏电视台", "ORG")]),
        (
            f"{A004}-013-01",
            [("中央第九巡回指导组", "ORG"), ("张掖市", "GPE"), ("人民日报", "ORG"), ("祁连山", "LOC"), ("祁连山", "LOC")],
        ),
    ],
)
def test_hand_checked_segments(
    by_segment: dict[str, Task], segment: str, expected: list[tuple[str, str]]
) -> None:
    assert entities(by_segment[segment]) == expected


@pytest.mark.parametrize(
    ("segment", "text", "label"),
    [
        (f"{A000}-006-00", "800余场次", "QUANTITY"),
        (f"{A000}-010-00", "40多家", "QUANTITY"),
        (f"{A000}-010-00", "西藏自治区区直机关工委", "ORG"),
        (f"{A000}-020-00", "区党委组织部", "ORG"),
        (f"{A000}-020-00", "区税务局", "ORG"),
        (f"{A000}-020-00", "区民政厅", "ORG"),
        (f"{A003}-011-01", "唐蕃会盟碑", "LOC"),
        (f"{A003}-001-00", "去年", "DATE"),
        (f"{A003}-017-00", "4·15", "DATE"),
        (f"{A003}-017-00", "民族团结进步宣传月期间", "DATE"),
        (f"{A004}-010-00", "4684场", "QUANTITY"),
        (f"{A004}-005-00", "市委常委会", "ORG"),
        (f"{A004}-013-00", "高台县骆驼城镇", "GPE"),
        (f"{A004}-017-00", "20.8亿元", "QUANTITY"),
        (f"{A004}-018-00", "98%以上", "QUANTITY"),
        (f"{A004}-011-01", "肃南裕固族自治县", "GPE"),
    ],
)
def test_hard_cases(by_segment: dict[str, Task], segment: str, text: str, label: str) -> None:
    assert (text, label) in entities(by_segment[segment])


@pytest.mark.parametrize(
    ("segment", "text"),
    [
        (f"{A000}-021-00", "第一步"),  # ordinal
        (f"{A001}-002-00", "第一批"),  # ordinal
        (f"{A001}-005-00", "目前"),  # not a particular date
        (f"{A000}-006-00", "目前"),
        (f"{A003}-000-00", "自治区"),  # 自治区 alone is never marked (here: 自治区第十次党代会)
        (f"{A001}-017-00", "自治区"),
        (f"{A003}-011-00", "七一"),  # inside the quoted medal name “七一勋章”
        (f"{A003}-000-00", "四个创建"),  # name of a campaign
        (f"{A000}-003-00", "西藏自治区"),  # only inside the ORG 西藏自治区党委, never a span of its own
    ],
)
def test_not_entities(by_segment: dict[str, Task], segment: str, text: str) -> None:
    assert text not in [t for t, _ in entities(by_segment[segment])]
