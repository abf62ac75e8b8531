"""Push and pull against a real Doccano server (one per session, see doccano_fixtures)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doccano_helpers import ANNOTATORS, LocalServer, make_task, write_tasks
from zhner.agreement import agreement
from zhner.cli import app
from zhner.doccano import server
from zhner.doccano.gateway import DoccanoGateway
from zhner.doccano.projects import layout
from zhner.doccano.sync import Connection, connect, find_work_project, pull, push, queue_name
from zhner.errors import ZhnerError
from zhner.io import read_jsonl
from zhner.schemas import Task

pytest_plugins = ["doccano_fixtures"]
pytestmark = pytest.mark.doccano
# push, pull (with agreement) and the kill mid-push run on SQLite and on PostgreSQL (any_doccano)


def spans_of(text: str, pieces: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """Spans by their surface (first occurrence), so offsets are never counted by hand."""
    out = []
    for piece, label in pieces:
        start = text.index(piece)
        out.append((start, start + len(piece), label))
    return sorted(out)


SAMPLES = [
    ("art1-000-00", "西藏自治区党委在拉萨市召开会议。", [("西藏自治区党委", "ORG"), ("拉萨市", "GPE")]),
    ("art1-001-00", "2月21日上午，尼木县普松村捐赠12吨物资。",
     [("2月21日上午", "DATE"), ("尼木县", "GPE"), ("普松村", "GPE"), ("12吨", "QUANTITY")]),
    ("art2-000-00", "𠮷野家👍🏽在雅鲁藏布江边开业，ＡＢＣ公司出资６万余元。", [("雅鲁藏布江", "LOC"), ("６万余元", "QUANTITY")]),
]  # fmt: skip


def sample_tasks() -> list[Task]:
    return [make_task(sid, text, spans_of(text, pieces)) for sid, text, pieces in SAMPLES]


def visible_spans(srv: LocalServer, user: str, project: str) -> dict[str, list[tuple[int, int, str]]]:
    """What `user` sees when logged in: segment id → spans, read through the API as the UI does."""
    with connect(srv.annotator_conn(user) if user in ANNOTATORS else srv.conn()) as gw:
        proj = find_work_project(gw, project, user)
        names = {t.id: t.text for t in gw.span_types(proj.id)}
        return {
            ex["meta"]["segment_id"]: sorted(
                (s.start_offset, s.end_offset, names[s.label]) for s in gw.spans(proj.id, ex["id"])
            )
            for ex in gw.examples(proj.id)
        }


def test_annotators_see_preannotations_and_second_push_adds_nothing(any_doccano: LocalServer, tmp_path: Path) -> None:
    tasks = sample_tasks()
    path = write_tasks(tmp_path / "tasks.jsonl", tasks)
    first = push(tasks_path=path, project="see", conn=any_doccano.conn(), annotators=["alice", "bob"])
    assert (first.uploaded, first.already_there) == (6, 0)  # 3 segments into each of 2 queues
    expected = {t.meta.segment_id: sorted(t.label) for t in tasks}
    for user in ("alice", "bob"):
        assert visible_spans(any_doccano, user, "see") == expected
    second = push(tasks_path=path, project="see", conn=any_doccano.conn(), annotators=["alice", "bob"])
    assert (second.uploaded, second.already_there, second.spans_shared) == (0, 6, 0)
    with connect(any_doccano.conn()) as gw:
        for user in ("alice", "bob"):
            assert gw.count_examples(gw.find_project(queue_name("see", user)).id) == 3
    assert visible_spans(any_doccano, "alice", "see") == expected  # shared once, not twice


def test_project_gets_labels_colours_guideline_and_members(doccano: LocalServer, tmp_path: Path) -> None:
    from zhner.config import load_labels

    guideline = tmp_path / "guidelines.md"
    guideline.write_text("# 标注规范\n机构名按原文完整标注。\n", encoding="utf-8")
    path = write_tasks(tmp_path / "tasks.jsonl", sample_tasks()[:1])
    push(tasks_path=path, project="setup", conn=doccano.conn(), annotators=["alice"], approvers=["bob"],
         guideline_path=guideline)  # fmt: skip
    with connect(doccano.conn()) as gw:
        proj = gw.find_project("setup@alice")  # alice's queue: collaborative in Doccano's sense, so she sees the spans
        assert proj.guideline == guideline.read_text(encoding="utf-8").strip()
        assert proj.grapheme_mode and proj.collaborative_annotation
        colours = {t.text: t.background_color for t in gw.span_types(proj.id)}
        assert colours == {name: d.color for name, d in load_labels().labels.items()}
        roles = {m.username: m.rolename for m in gw.members(proj.id)}
    assert roles == {"admin": "project_admin", "alice": "annotator", "bob": "annotation_approver"}


def test_changed_text_is_refused_with_its_line(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = sample_tasks()
    push(tasks_path=write_tasks(tmp_path / "a.jsonl", tasks), project="changed", conn=doccano.conn())
    edited = tasks[:1] + [make_task(tasks[1].meta.segment_id, tasks[1].text + "补充", [])]
    with pytest.raises(ZhnerError) as err:
        push(tasks_path=write_tasks(tmp_path / "b.jsonl", edited), project="changed", conn=doccano.conn())
    assert err.value.code == "E311" and "b.jsonl:2" in str(err.value) and "art1-001-00" in str(err.value)


def correct_as(srv: LocalServer, user: str, project: str, segment_id: str, edit) -> None:
    """Change one example's spans as `user` through the API (what the web UI calls), then confirm."""
    with connect(srv.annotator_conn(user)) as gw:
        proj = find_work_project(gw, project, user)
        ids = {t.text: t.id for t in gw.span_types(proj.id)}
        ex = next(e for e in gw.examples(proj.id) if e["meta"]["segment_id"] == segment_id)
        edit(gw, proj.id, ex["id"], gw.spans(proj.id, ex["id"]), ids)
        gw.confirm(proj.id, ex["id"])


def test_pull_keeps_each_annotators_corrections(any_doccano: LocalServer, tmp_path: Path) -> None:
    tasks = sample_tasks()
    push(tasks_path=write_tasks(tmp_path / "t.jsonl", tasks), project="pull", conn=any_doccano.conn(),
         annotators=["alice", "bob"])  # fmt: skip
    text = tasks[1].text

    def alice_edit(gw: DoccanoGateway, pid: int, eid: int, spans, ids) -> None:
        by_start = {s.start_offset: s for s in spans}
        gw.delete_span(pid, eid, by_start[text.index("普松村")].id)  # deleted
        gw.update_span(pid, eid, by_start[text.index("尼木县")].id, label=ids["LOC"])  # relabelled
        qty = by_start[text.index("12吨")]
        gw.update_span(pid, eid, qty.id, end_offset=text.index("物资") + 2)  # boundary "12吨物资"
        gw.create_span(pid, eid, text.index("捐赠"), text.index("捐赠") + 2, ids["ORG"])  # added

    correct_as(any_doccano, "alice", "pull", "art1-001-00", alice_edit)
    when = datetime(2026, 11, 22, 21, 0, 0, tzinfo=timezone.utc)
    result = pull(project="pull", conn=any_doccano.conn(), out_dir=tmp_path / "corrected", now=when)
    assert result.path.name == "pull-20261122T210000Z.jsonl" and result.rejected == []
    records = {(t.meta.segment_id, t.meta.annotator): t for t in read_jsonl(result.path, Task)}
    assert set(records) == {(t.meta.segment_id, u) for t in tasks for u in ("alice", "bob")}
    alice = records[("art1-001-00", "alice")]
    assert alice.label == spans_of(text, [("2月21日上午", "DATE"), ("尼木县", "LOC"), ("捐赠", "ORG"), ("12吨物资", "QUANTITY")])
    assert records[("art1-001-00", "bob")].label == tasks[1].label
    assert alice.meta.spans == tasks[1].meta.spans  # the pre-annotations travel back for `zhner corrections`
    # only what alice confirmed
    approved = pull(project="pull", conn=any_doccano.conn(), out_dir=tmp_path / "approved", approved=True,
                    annotators=["alice"])  # fmt: skip
    assert [(t.meta.segment_id, t.meta.annotator) for t in read_jsonl(approved.path, Task)] == [("art1-001-00", "alice")]
    # a second pull in the same second never overwrites the first
    first = result.path.read_bytes()
    again = pull(project="pull", conn=any_doccano.conn(), out_dir=tmp_path / "corrected", now=when)
    assert again.path.name == "pull-20261122T210000Z-2.jsonl" and result.path.read_bytes() == first
    # agreement on the pull: both annotators have every segment, alice's edit is the one disagreement
    report, adjudicate = agreement(path=result.path)
    assert (report.doubly_annotated, report.disagreements) == (3, 1)
    assert [t.meta.segment_id for t in adjudicate] == ["art1-001-00"]


def test_collaborative_project_shares_spans(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = sample_tasks()
    push(tasks_path=write_tasks(tmp_path / "t.jsonl", tasks), project="collab", conn=doccano.conn(),
         annotators=["alice"], collaborative=True)  # fmt: skip
    assert visible_spans(doccano, "alice", "collab") == {t.meta.segment_id: sorted(t.label) for t in tasks}
    result = pull(project="collab", conn=doccano.conn(), out_dir=tmp_path)
    pulled = list(read_jsonl(result.path, Task))
    assert len(pulled) == 3 and {t.meta.annotator for t in pulled} == {None}
    with pytest.raises(ZhnerError) as err:  # the mode of an existing project is not silently switched
        push(tasks_path=tmp_path / "t.jsonl", project="collab", conn=doccano.conn(), collaborative=False)
    assert err.value.code == "E316"


def test_pull_reports_spans_it_refuses(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = sample_tasks()[:1]
    push(tasks_path=write_tasks(tmp_path / "t.jsonl", tasks), project="refuse", conn=doccano.conn(),
         annotators=["alice"])  # fmt: skip

    with connect(doccano.conn()) as gw:  # a project admin adds a label type nobody configured
        gw.create_span_type(gw.find_project("refuse@alice").id, "PERSON", color="#000000")

    def bad_edit(gw: DoccanoGateway, pid: int, eid: int, spans, ids) -> None:
        gw.create_span(pid, eid, 11, 13, ids["PERSON"])

    correct_as(doccano, "alice", "refuse", tasks[0].meta.segment_id, bad_edit)
    result = pull(project="refuse", conn=doccano.conn(), out_dir=tmp_path / "out", annotators=["alice"])
    assert [(r.span, r.reason) for r in result.rejected] == [((11, 13, "PERSON"), "unknown label 'PERSON'")]
    assert result.rejected_path and json.loads(result.rejected_path.read_text().splitlines()[0])["span"] == [11, 13, "PERSON"]
    (kept,) = read_jsonl(result.path, Task)
    assert kept.label == tasks[0].label


# --- faults and bad input -------------------------------------------------------------------------


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_server_not_running_is_one_clear_error(tmp_path: Path) -> None:
    path = write_tasks(tmp_path / "t.jsonl", sample_tasks())
    port = server.free_port()
    env = {"ZHNER_DOCCANO_USERNAME": "admin", "ZHNER_DOCCANO_PASSWORD": "x", "DOCCANO_HOME": str(tmp_path / "h")}
    res = cli("doccano", "push", str(path), "--project", "p", "--url", f"http://127.0.0.1:{port}", env=env)
    assert res.exit_code == 1 and "[E301]" in res.output and "not reachable" in res.output
    res = cli("doccano", "status", env=env)
    assert res.exit_code == 1 and "not running" in res.output


def test_wrong_credentials(doccano: LocalServer, tmp_path: Path) -> None:
    path = write_tasks(tmp_path / "t.jsonl", sample_tasks())
    env = {"ZHNER_DOCCANO_USERNAME": "admin", "ZHNER_DOCCANO_PASSWORD": "wrong", "DOCCANO_HOME": str(tmp_path)}
    res = cli("doccano", "push", str(path), "--project", "p", "--url", doccano.url, env=env)
    assert res.exit_code == 1 and "[E303]" in res.output and "'admin'" in res.output


@pytest.mark.parametrize(
    "line, code, needle",
    [
        ('{"text": "拉萨", "label": [[0, 2, "GPE"]], "meta": ', "E002", "bad.jsonl:2: not valid JSON"),
        (None, "E310", "unknown label 'PER'"),
        (None, "E003", "outside the text"),
    ],
    ids=["malformed-line", "unknown-label", "out-of-range"],
)
def test_bad_task_file_is_refused_before_anything_is_sent(
    doccano: LocalServer, tmp_path: Path, line: str | None, code: str, needle: str
) -> None:
    good = sample_tasks()[0]
    if code == "E310":
        line = json.dumps(make_task("x-1", "张三在拉萨", [(0, 2, "PER")]).model_dump(mode="json"), ensure_ascii=False)
    elif code == "E003":
        row = make_task("x-1", "在拉萨", [(1, 3, "GPE")]).model_dump(mode="json")
        row["label"] = [[1, 9, "GPE"]]
        line = json.dumps(row, ensure_ascii=False)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good.model_dump(mode="json"), ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ZhnerError) as err:
        push(tasks_path=path, project=f"bad-{code}", conn=doccano.conn())
    assert err.value.code == code and needle in str(err.value) and "bad.jsonl:2" in str(err.value)
    with connect(doccano.conn()) as gw:
        assert not layout(gw, f"bad-{code}").exists


def test_20000_character_segment(doccano: LocalServer, tmp_path: Path) -> None:
    tail = "在𠮷野家👍🏽e\u0301。\r\n"
    text = ("西藏自治区党委在拉萨市召开会议，" * 1250)[: 20000 - len(tail)] + tail
    assert len(text) == 20000
    spans = [(0, 7, "ORG"), (len(text) - 10, len(text) - 7, "ORG")]  # 𠮷野家, after 19,990 characters
    path = write_tasks(tmp_path / "long.jsonl", [make_task("long-000-00", text, spans)])
    with pytest.raises(ZhnerError) as err:
        push(tasks_path=path, project="long", conn=doccano.conn())
    assert err.value.code == "E310" and f"{len(text)} characters" in str(err.value) and "long.jsonl:1" in str(err.value)
    result = push(tasks_path=path, project="long", conn=doccano.conn(), max_chars=25000)
    assert result.uploaded == 1 and result.grapheme_warnings == ["long-000-00"]
    (back,) = read_jsonl(pull(project="long", conn=doccano.conn(), out_dir=tmp_path).path, Task)
    assert back.text == text and back.label == spans


def test_push_killed_midway_resumes_without_duplicates(any_doccano: LocalServer, tmp_path: Path) -> None:
    """SIGKILL web server and worker during a push; the next push completes it, nothing twice."""
    tasks = [make_task(f"kill-{i:05d}", f"第{i}次会议在拉萨市召开。", [(len(str(i)) + 4, len(str(i)) + 7, "GPE")])
             for i in range(3000)]  # fmt: skip
    path = write_tasks(tmp_path / "kill.jsonl", tasks)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            push(tasks_path=path, project="kill", conn=any_doccano.conn(), annotators=["alice"], batch_size=250)
        except ZhnerError as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    with connect(any_doccano.conn()) as gw:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            proj = gw.find_project("kill@alice")
            if proj and gw.count_examples(proj.id) >= 500:
                break
            time.sleep(0.2)
    server.kill(home=any_doccano.home)
    thread.join(timeout=120)
    assert errors and errors[0].code in ("E301", "E304", "E305"), "the push must fail loudly when the server dies"
    any_doccano.restart()
    with connect(any_doccano.conn()) as gw:
        landed = gw.count_examples(gw.find_project("kill@alice").id)
    assert 0 < landed < 3000, "the kill must have cut the push short"
    again = push(tasks_path=path, project="kill", conn=any_doccano.conn(), annotators=["alice"], batch_size=250)
    assert again.uploaded + again.already_there - again.reimported == 3000 - again.reimported
    pulled = list(read_jsonl(pull(project="kill", conn=any_doccano.conn(), out_dir=tmp_path).path, Task))
    assert {t.meta.annotator for t in pulled} == {"alice"}
    for user in ("alice",):
        mine = [t for t in pulled if t.meta.annotator == user]
        assert sorted(t.meta.segment_id for t in mine) == [t.meta.segment_id for t in tasks]  # each once
        assert {t.meta.segment_id: t.label for t in mine} == {t.meta.segment_id: t.label for t in tasks}


def test_adduser_prints_a_password_only_for_a_new_account(doccano: LocalServer) -> None:
    env = {"ZHNER_DOCCANO_USERNAME": doccano.username, "ZHNER_DOCCANO_PASSWORD": doccano.password}
    res = cli("doccano", "adduser", "carol", "--url", doccano.url, env=env)
    assert res.exit_code == 0 and "password " in res.output
    password = res.output.rsplit("password ", 1)[1].split()[0]
    with connect(Connection(url=doccano.url, username="carol", password=password)) as gw:
        assert gw.me().username == "carol"  # the printed password is the account's
    again = cli("doccano", "adduser", "carol", "--url", doccano.url, env=env)
    assert again.exit_code == 0 and "already exists" in again.output and password not in again.output
