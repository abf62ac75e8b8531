"""The annotator stand-in (`zhner doccano annotate-gold`) against a real Doccano server: after it,
the annotator's spans equal the gold, examples are confirmed, the pull returns the gold, and a
second run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from doccano_helpers import ANNOTATORS, LocalServer, make_task, write_tasks
from zhner.cli import app
from zhner.demo.annotator import annotate_gold, plan_edits, segment_id_of
from zhner.doccano.gateway import DoccanoSpan
from zhner.doccano.sync import connect, find_work_project, pull, push
from zhner.io import read_jsonl, write_jsonl
from zhner.schemas import Task

pytest_plugins = ["doccano_fixtures"]

TEXT1 = "西藏自治区党委在拉萨市召开会议。"
TEXT2 = "2月21日上午，尼木县普松村捐赠12吨物资。"
TEXT3 = "游客在祁连山下参观。"
# pre-annotations with every kind of error: boundary (西藏自治区 ⊂ 西藏自治区党委), two spans that
# the gold merges (尼木县 + 普松村), a wrong label (祁连山 GPE → LOC), a spurious span (会议), a miss (12吨)
PRE = {
    "g-000-00": (TEXT1, [(0, 5, "GPE"), (8, 11, "GPE"), (13, 15, "ORG")]),
    "g-001-00": (TEXT2, [(0, 7, "DATE"), (8, 11, "GPE"), (11, 14, "GPE")]),
    "g-002-00": (TEXT3, [(3, 6, "GPE")]),
    "g-003-00": ("没有金标的句子。", [(0, 2, "ORG")]),
}
GOLD = {
    "g-000-00": (TEXT1, [(0, 7, "ORG"), (8, 11, "GPE")]),
    "g-001-00": (TEXT2, [(0, 7, "DATE"), (8, 14, "GPE"), (16, 19, "QUANTITY")]),
    "g-002-00": (TEXT3, [(3, 6, "LOC")]),
}


def spans(text_spans: dict) -> dict[str, list[tuple[int, int, str]]]:
    return {k: sorted(v[1]) for k, v in text_spans.items()}


def pushed_project(srv: LocalServer, tmp_path: Path, name: str) -> Path:
    tasks = write_tasks(tmp_path / "tasks.jsonl", [make_task(k, t, s) for k, (t, s) in PRE.items()])
    push(tasks_path=tasks, project=name, conn=srv.conn(), annotators=["alice"])
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [make_task(k, t, s) for k, (t, s) in GOLD.items()])
    return gold


def annotator_spans(srv: LocalServer, project: str, user: str) -> dict[str, list[tuple[int, int, str]]]:
    with connect(srv.annotator_conn(user)) as gw:
        proj = find_work_project(gw, project, user)
        labels = {t.id: t.text for t in gw.span_types(proj.id)}
        return {
            segment_id_of(ex): sorted((s.start_offset, s.end_offset, labels[s.label]) for s in gw.spans(proj.id, ex["id"]))
            for ex in gw.examples(proj.id)
        }


@pytest.mark.doccano
def test_annotator_ends_with_the_gold_and_pull_returns_it(doccano: LocalServer, tmp_path: Path):
    gold = pushed_project(doccano, tmp_path, "loop-gold")
    before = annotator_spans(doccano, "loop-gold", "alice")
    assert before == spans(PRE)  # alice starts from the shared pre-annotations

    result = annotate_gold(conn=doccano.annotator_conn("alice"), project="loop-gold", gold=gold)

    after = annotator_spans(doccano, "loop-gold", "alice")
    assert {k: after[k] for k in GOLD} == spans(GOLD)
    assert after["g-003-00"] == spans(PRE)["g-003-00"]  # no gold: left alone, and reported
    assert result.no_gold == ["g-003-00"]
    assert (result.kept, result.confirmed) == (2, 3)  # 拉萨市 and the date were already right
    assert result.deleted + result.patched >= 4 and result.created >= 1
    pulled = pull(project="loop-gold", conn=doccano.conn(), out_dir=tmp_path / "pulled", annotators=["alice"], approved=True)
    records = {t.meta.segment_id: sorted(map(tuple, t.label)) for t in read_jsonl(pulled.path, Task)}
    assert records == spans(GOLD)  # approved=True: exactly the three confirmed examples


@pytest.mark.doccano
def test_second_run_changes_nothing_and_keeps_confirmation(doccano: LocalServer, tmp_path: Path):
    gold = pushed_project(doccano, tmp_path, "loop-again")
    annotate_gold(conn=doccano.annotator_conn("alice"), project="loop-again", gold=gold)
    again = annotate_gold(conn=doccano.annotator_conn("alice"), project="loop-again", gold=gold)
    assert (again.deleted, again.patched, again.created, again.confirmed) == (0, 0, 0, 0)
    assert again.unchanged == 3
    pulled = pull(project="loop-again", conn=doccano.conn(), out_dir=tmp_path / "pulled", annotators=["alice"], approved=True)
    assert len(list(read_jsonl(pulled.path, Task))) == 3  # still confirmed: confirm() toggles, so it was not called again


@pytest.mark.doccano
def test_cli_annotate_gold_reports_and_fails_cleanly(doccano: LocalServer, tmp_path: Path):
    gold = pushed_project(doccano, tmp_path, "loop-cli")
    args = ["doccano", "annotate-gold", "--project", "loop-cli", "--gold", str(gold), "--user", "alice",
            "--url", doccano.url, "--home", str(doccano.home)]  # fmt: skip
    ok = CliRunner().invoke(app, args, env={"ZHNER_ANNOTATOR_PASSWORD": ANNOTATORS["alice"]})
    assert ok.exit_code == 0, ok.output
    assert "alice in 'loop-cli': 4 examples, 3 edited" in ok.output
    bad = CliRunner().invoke(app, args, env={"ZHNER_ANNOTATOR_PASSWORD": "wrong"})
    assert bad.exit_code == 1 and "[E303]" in bad.output
    missing = CliRunner().invoke(app, [*args[:3], "no-such-project", *args[4:]], env={"ZHNER_ANNOTATOR_PASSWORD": ANNOTATORS["alice"]})
    assert missing.exit_code == 1 and "[E312]" in missing.output


def span(i: int, start: int, end: int, label: int) -> DoccanoSpan:
    return DoccanoSpan(id=i, label=label, start_offset=start, end_offset=end, user=1)


def test_plan_edits_keeps_patches_deletes_creates():
    labels = {1: "GPE", 2: "ORG", 3: "LOC"}
    current = [span(10, 0, 5, 1), span(11, 8, 11, 1), span(12, 13, 15, 2), span(13, 20, 23, 1)]
    gold = [(0, 7, "ORG"), (8, 11, "GPE"), (20, 23, "LOC"), (30, 32, "ORG")]
    edits = plan_edits(current, gold, labels)
    assert [s.id for s in edits.keep] == [11]
    assert [(s.id, g) for s, g in edits.patch] == [(10, (0, 7, "ORG")), (13, (20, 23, "LOC"))]
    assert [s.id for s in edits.delete] == [12]
    assert edits.create == [(30, 32, "ORG")]
