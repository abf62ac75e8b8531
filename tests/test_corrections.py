"""`zhner corrections`: what annotators did to the pre-annotations."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from doccano_helpers import make_task, write_tasks
from zhner.cli import app
from zhner.corrections import classify, corrections

TEXT = "2月21日上午，尼木县普松村捐赠12吨物资。"


def at(piece: str, label: str) -> tuple[int, int, str]:
    start = TEXT.index(piece)
    return (start, start + len(piece), label)


PRE = [at("2月21日上午", "DATE"), at("尼木县", "GPE"), at("普松村", "GPE"), at("12吨", "QUANTITY"), at("捐赠", "ORG")]
FINAL = [at("2月21日", "DATE"), at("尼木县", "LOC"), at("普松村", "GPE"), at("12吨物资", "QUANTITY"), at("物资", "ORG")]


def corrected_task(pre, final, annotator="alice"):
    task = make_task("a-000-00", TEXT, pre)
    return task.model_copy(update={"label": sorted(final), "meta": task.meta.model_copy(update={"annotator": annotator})})


def test_each_kind_of_correction_is_named() -> None:
    final = [at("2月21日", "DATE"), at("尼木县", "LOC"), at("普松村", "GPE"), at("物资", "ORG")]
    got = {(c, p, q) for c, p, q in classify(PRE, final)}
    assert got == {
        ("boundary_fixed", at("2月21日上午", "DATE"), at("2月21日", "DATE")),
        ("relabelled", at("尼木县", "GPE"), at("尼木县", "LOC")),
        ("kept", at("普松村", "GPE"), at("普松村", "GPE")),
        ("deleted", at("12吨", "QUANTITY"), None),
        ("deleted", at("捐赠", "ORG"), None),
        ("added", None, at("物资", "ORG")),
    }


def test_report_gives_real_world_precision_and_recall(tmp_path: Path) -> None:
    final = [at("2月21日", "DATE"), at("尼木县", "LOC"), at("普松村", "GPE"), at("12吨物资", "QUANTITY")]
    path = write_tasks(tmp_path / "c.jsonl", [corrected_task(PRE, final), corrected_task(PRE, PRE, "bob")])
    report = corrections(path=path)
    alice = report.by_annotator["alice"]
    assert (alice.kept, alice.boundary_fixed, alice.relabelled, alice.deleted, alice.added) == (1, 2, 1, 1, 0)
    assert alice.scores()["precision"] == 1 / 5 and alice.scores()["recall"] == 1 / 4
    assert report.by_annotator["bob"].scores() == {"precision": 1.0, "recall": 1.0, "precision_partial": 1.0,
                                                   "recall_partial": 1.0}  # fmt: skip
    gpe = report.by_label["GPE"]
    assert (gpe.kept, gpe.relabelled, gpe.pre, gpe.final) == (3, 1, 4, 3)  # alice relabelled 尼木县 GPE→LOC


def test_cli_prints_table_and_writes_json(tmp_path: Path) -> None:
    path = write_tasks(tmp_path / "c.jsonl", [corrected_task(PRE, FINAL)])
    out = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["corrections", str(path), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "boundary_fixed" in res.output and "QUANTITY" in res.output
    assert json.loads(out.read_text())["total"]["kept"] == 1
    res = CliRunner().invoke(app, ["corrections", str(path), "--output", str(out)])
    assert res.exit_code == 1 and "already exists" in res.output
    # -F, as on every other command that writes
    out.write_text("{}")
    res = CliRunner().invoke(app, ["corrections", str(path), "--output", str(out), "-F"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["total"]["kept"] == 1


def test_no_records_for_the_annotator_is_an_error(tmp_path: Path) -> None:
    path = write_tasks(tmp_path / "c.jsonl", [corrected_task(PRE, FINAL)])
    res = CliRunner().invoke(app, ["corrections", str(path), "--annotator", "carol"])
    assert res.exit_code == 1 and "[E318]" in res.output and "carol" in res.output
