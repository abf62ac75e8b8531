"""The base's teacher (LAC labels for ORG/GPE/LOC) and its extra text: real LAC, real sdist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zhner.io import read_jsonl
from zhner.pipeline import teacher
from zhner.pipeline.bootstrap_config import load_bootstrap_config
from zhner.pipeline.silver import SilverSentence
from zhner.schemas import Task


def test_token_spans_keep_spans_on_word_boundaries_and_count_the_rest() -> None:
    words = ["新华社", "北京", "电", "，", "南湖南路", "通车"]
    kept, dropped = teacher.token_spans(words, [(0, 3, "ORG"), (3, 5, "GPE"), (9, 11, "GPE")])  # 湖南 cuts a word
    assert kept == [(0, 1, "ORG"), (1, 2, "GPE")]
    assert dropped == 1


def test_merge_replaces_the_teacher_s_labels_and_keeps_other_silver_around_them() -> None:
    silver = [(0, 1, "GPE"), (2, 4, "ORG"), (5, 6, "DATE"), (1, 3, "QUANTITY")]
    merged = teacher.merge([(0, 2, "ORG")], silver, {"ORG", "GPE", "LOC"})
    # the PKU GPE and ORG give way; DATE stays; a QUANTITY overlapping the teacher's span is dropped
    assert merged == [(0, 2, "ORG"), (5, 6, "DATE")]


def test_fill_keeps_the_silver_of_the_teacher_s_labels_where_the_teacher_found_nothing() -> None:
    silver = [(0, 1, "GPE"), (2, 4, "ORG"), (5, 6, "DATE")]
    merged = teacher.merge([(0, 2, "ORG")], silver, {"ORG", "GPE", "LOC"}, fill=True)
    assert merged == [(0, 2, "ORG"), (2, 4, "ORG"), (5, 6, "DATE")]  # the PKU GPE overlaps: it gives way


def test_relabel_keeps_words_and_counts() -> None:
    sent = SilverSentence(words=["中国", "银行", "今天", "宣布"], spans=[(0, 1, "GPE"), (2, 3, "DATE")])
    out, stats = teacher.relabel([sent], [[(0, 4, "ORG")]], ["ORG", "GPE", "LOC"])
    assert out[0].words == sent.words
    assert out[0].spans == [(0, 2, "ORG"), (2, 3, "DATE")]
    assert stats == {"teacher_spans": 1, "teacher_spans_off_word_boundaries": 0}


def test_lac_labels_organisations_and_places_and_caches_them(tmp_path: Path) -> None:
    texts = ["新华社北京1月5日电，中国人民银行今天发布公告。", "他昨天去了上海。"]
    settings = teacher.TeacherSettings(use="lac")
    spans = teacher.teacher_spans(texts, settings, tmp_path, lambda _m: None)
    found = [{(texts[i][s:e], label) for s, e, label in line} for i, line in enumerate(spans)]
    assert ("新华社", "ORG") in found[0] and ("北京", "GPE") in found[0] and ("中国人民银行", "ORG") in found[0]
    assert ("上海", "GPE") in found[1]
    assert all(label in {"ORG", "GPE", "LOC"} for line in spans for _, _, label in line)  # no DATE from LAC's TIME
    cached = list((tmp_path / "teacher").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text(encoding="utf-8")) == [list(map(list, l)) for l in spans]
    log: list[str] = []
    assert teacher.teacher_spans(texts, settings, tmp_path, log.append) == spans
    assert log and "reusing" in log[0]


def test_extra_text_never_holds_a_dev_set_sentence(repo_root: Path, tmp_path: Path) -> None:
    extra = load_bootstrap_config().teacher.extra_text
    assert extra is not None
    lines = teacher.extra_lines(extra, tmp_path, repo_root)
    dev = {t.text for t in read_jsonl(repo_root / "annotations" / "gold" / "dev_news.jsonl", Task)}
    thucnews_dev = {t for t in dev if t in set(_raw_headlines(tmp_path, extra))}
    assert len(thucnews_dev) >= 100  # the dev set's headlines are in the archive ...
    assert not thucnews_dev & set(lines)  # ... and none of them is trained on
    assert len(lines) > 9000


def _raw_headlines(work: Path, extra: teacher.ExtraText) -> list[str]:
    import tarfile

    sdist = work / "sdist" / f"{extra.package}-{extra.version}.tar.gz"
    with tarfile.open(sdist, "r:gz") as tar:
        raw = tar.extractfile(f"{extra.package}-{extra.version}/{extra.member}").read().decode("utf-8")
    return [line.split("\t", 1)[-1].strip() for line in raw.splitlines()]


def test_extra_text_lines_are_cleaned_deduplicated_and_never_a_dev_sentence(repo_root: Path, tmp_path: Path) -> None:
    import hashlib
    import io
    import tarfile

    dev = next(iter(read_jsonl(repo_root / "annotations" / "gold" / "dev_news.jsonl", Task))).text
    raw = "\n".join([
        "sports\t湖人击败凯尔特人&nbsp;夺得总冠军", "sports\t湖人击败凯尔特人&nbsp;夺得总冠军",  # twice
        "realty\t北京楼市&#8226;成交回暖", "stocks\t沪指\ufffd\ufffd涨1%", f"politics\t{dev}", "",
    ]).encode("utf-8")  # fmt: skip
    (tmp_path / "sdist").mkdir()
    sdist = tmp_path / "sdist" / "news-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("news-1.0/data/headlines.txt")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    extra = teacher.ExtraText(package="news", version="1.0", sha256=hashlib.sha256(sdist.read_bytes()).hexdigest(),
                              member="data/headlines.txt", exclude=["annotations/gold/dev_news.jsonl"])
    # entities become characters, broken characters (U+FFFD) drop the line, a repeat and the dev sentence go
    assert teacher.extra_lines(extra, tmp_path, repo_root) == ["湖人击败凯尔特人 夺得总冠军", "北京楼市•成交回暖"]


def test_a_missing_member_is_a_clear_error(tmp_path: Path, repo_root: Path) -> None:
    extra = load_bootstrap_config().teacher.extra_text.model_copy(update={"member": "examples/nope.txt"})
    with pytest.raises(Exception, match="nope.txt is missing from the archive"):
        teacher.extra_lines(extra, tmp_path, repo_root)


def test_the_cache_key_is_the_same_in_every_process(repo_root: Path) -> None:
    """A key that followed Python's hash seed would relabel the whole corpus on every build."""
    import subprocess
    import sys

    code = "from zhner.pipeline import teacher, lac; print(teacher._stable(lac.Conventions.load()))"
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2, 3)}
    assert len(keys) == 1
