"""`zhner agreement`: pairwise span F1, character kappa, and an adjudication file for Doccano."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from doccano_helpers import make_task, write_tasks
from zhner.agreement import agreement, char_tags
from zhner.cli import app
from zhner.schemas import task_problem
from zhner.io import read_jsonl
from zhner.schemas import Task

T1 = "西藏自治区党委在拉萨市召开会议。"
T2 = "尼木县普松村捐赠12吨物资。"


def at(text: str, piece: str, label: str) -> tuple[int, int, str]:
    start = text.index(piece)
    return (start, start + len(piece), label)


def annotated(sid: str, text: str, spans, who: str) -> Task:
    task = make_task(sid, text, [])
    return task.model_copy(update={"label": sorted(spans), "meta": task.meta.model_copy(update={"annotator": who})})


@pytest.fixture()
def corrected(tmp_path: Path) -> Path:
    alice = [
        annotated("s1", T1, [at(T1, "西藏自治区党委", "ORG"), at(T1, "拉萨市", "GPE")], "alice"),
        annotated("s2", T2, [at(T2, "尼木县", "GPE"), at(T2, "12吨", "QUANTITY")], "alice"),
        annotated("s3", T2, [], "alice"),  # only alice: not compared
    ]
    bob = [
        annotated("s1", T1, [at(T1, "西藏自治区党委", "ORG"), at(T1, "拉萨市", "GPE")], "bob"),
        annotated("s2", T2, [at(T2, "尼木县普松村", "GPE"), at(T2, "12吨物资", "QUANTITY")], "bob"),
    ]
    return write_tasks(tmp_path / "corrected.jsonl", alice + bob)


def test_strict_and_partial_f1_per_label(corrected: Path) -> None:
    report, _ = agreement(path=corrected)
    assert (report.segments, report.doubly_annotated, report.disagreements) == (3, 2, 1)
    (pair,) = report.pairs
    assert (pair.a, pair.b, pair.segments) == ("alice", "bob", 2)
    assert pair.strict["ORG"].f1 == 1.0 and pair.strict["QUANTITY"].f1 == 0.0
    assert pair.strict["GPE"].f1 == 2 * 1 / (2 + 2)  # 拉萨市 agreed, 尼木县 vs 尼木县普松村 not
    assert pair.partial["GPE"].f1 == 1.0 and pair.partial["QUANTITY"].f1 == 1.0
    assert pair.strict["ALL"].f1 == 2 * 2 / 8 and pair.partial["ALL"].f1 == 1.0


def test_kappa_is_cohens_over_characters(corrected: Path) -> None:
    report, _ = agreement(path=corrected)
    a = char_tags(T1, [at(T1, "西藏自治区党委", "ORG"), at(T1, "拉萨市", "GPE")]) + char_tags(
        T2, [at(T2, "尼木县", "GPE"), at(T2, "12吨", "QUANTITY")])  # fmt: skip
    b = char_tags(T1, [at(T1, "西藏自治区党委", "ORG"), at(T1, "拉萨市", "GPE")]) + char_tags(
        T2, [at(T2, "尼木县普松村", "GPE"), at(T2, "12吨物资", "QUANTITY")])  # fmt: skip
    assert report.pairs[0].kappa == pytest.approx(cohen_kappa_score(a, b))
    assert 0 < report.pairs[0].kappa < 1


def test_adjudication_file_is_pushable(corrected: Path, tmp_path: Path) -> None:
    out = tmp_path / "adjudicate.jsonl"
    res = CliRunner().invoke(app, ["agreement", str(corrected), "--adjudication", str(out),
                                   "--output", str(tmp_path / "a.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "alice vs bob" in res.output
    (task,) = read_jsonl(out, Task)
    assert task.meta.segment_id == "s2" and task.label == []  # nothing agreed exactly
    assert {(s.source, s.start, s.end) for s in task.meta.spans} == {
        ("alice", 0, 3), ("alice", *at(T2, "12吨", "")[:2]), ("bob", 0, 6), ("bob", *at(T2, "12吨物资", "")[:2])}
    assert task_problem(task, labels={"GPE", "QUANTITY"}, max_chars=10000) is None
    assert json.loads((tmp_path / "a.json").read_text())["pairs"][0]["strict"]["ORG"]["f1"] == 1.0


def test_file_without_annotators_is_refused(tmp_path: Path) -> None:
    path = write_tasks(tmp_path / "tasks.jsonl", [make_task("s1", T1, [])])
    res = CliRunner().invoke(app, ["agreement", str(path)])
    assert res.exit_code == 1 and "[E318]" in res.output and "meta.annotator" in res.output
