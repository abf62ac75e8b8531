"""Task ⇄ Doccano rows and their checks (no server needed)."""

from __future__ import annotations

from doccano_helpers import make_task
from zhner.doccano.mapping import from_doccano, grapheme_risk, to_doccano
from zhner.schemas import task_problem

LABELS = {"ORG", "GPE", "LOC", "DATE", "QUANTITY"}
TEXT = "西藏自治区党委在拉萨市召开会议。"


def row(label, text=TEXT, **meta_changes):
    task = make_task("a-000-00", text, [(0, 7, "ORG")])
    r = to_doccano(task)
    r.update(id=7, label=label)
    return r


def test_every_row_has_the_same_keys() -> None:
    # one row with other keys makes Doccano fail the whole import
    a = to_doccano(make_task("a", TEXT, [(0, 7, "ORG")]))
    b = to_doccano(make_task("b", "拉萨", []))
    assert a.keys() == b.keys() == {"text", "label", "segment_id", "article_id", "meta"}
    assert isinstance(a["meta"], str)  # pandas in Doccano's importer would round-trip floats inexactly


def test_task_problems_name_the_reason() -> None:
    assert task_problem(make_task("a", TEXT, [(0, 7, "ORG")]), labels=LABELS, max_chars=100) is None
    assert "unknown label 'PER'" in task_problem(make_task("a", TEXT, [(8, 11, "PER")]), labels=LABELS, max_chars=100)
    assert "overlap" in task_problem(make_task("a", TEXT, [(0, 7, "ORG"), (5, 11, "GPE")]), labels=LABELS, max_chars=100)
    assert "above sync.max_segment_chars = 10" in task_problem(make_task("a", TEXT, []), labels=LABELS, max_chars=10)
    stale = make_task("a", TEXT, []).model_copy(update={"text": TEXT + "。"})
    assert "is not the sha1" in task_problem(stale, labels=LABELS, max_chars=100)


def test_pulled_spans_are_checked_one_by_one() -> None:
    task, rejected = from_doccano(
        row([[0, 7, "ORG"], [5, 9, "GPE"], [8, 11, "PERSON"], [12, 99, "DATE"]]), annotator="alice", labels=LABELS
    )
    assert task is not None and task.label == [(0, 7, "ORG")] and task.meta.annotator == "alice"
    assert [(r.span, r.reason.split(" ")[0]) for r in rejected] == [
        ((5, 9, "GPE"), "overlaps"), ((8, 11, "PERSON"), "unknown"), ((12, 99, "DATE"), "offsets")]  # fmt: skip


def test_pulled_record_with_changed_text_or_no_meta_is_refused() -> None:
    changed = row([[0, 7, "ORG"]])
    changed["text"] = TEXT.replace("拉萨", "日喀则")
    task, rejected = from_doccano(changed, annotator="bob", labels=LABELS)
    assert task is None and "text changed since push" in rejected[0].reason and rejected[0].segment_id == "a-000-00"
    task, rejected = from_doccano({"id": 3, "text": TEXT, "label": [], "meta": None}, annotator="bob", labels=LABELS)
    assert task is None and "not a task pushed by zhner" in rejected[0].reason


def test_grapheme_risk() -> None:
    assert grapheme_risk("a\r\nb") and grapheme_risk("e\u0301") and grapheme_risk("👩\u200d💻")
    assert not grapheme_risk("西藏𠮷野家ＡＢＣ")
