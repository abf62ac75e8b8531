"""A team on one Doccano that zhner does not manage (started by the test with Doccano's own
commands, reached only by --url with the admin's credentials): every annotator sees the
pre-annotations, routing with overlap, honeypots and the per-annotator report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doccano_helpers import ANNOTATORS, PlainServer, make_task, write_tasks
from zhner.agreement import agreement
from zhner.annotators import annotator_report
from zhner.cli import app
from zhner.doccano import routing
from zhner.doccano.sync import Connection, connect, find_work_project, pull, push
from zhner.io import read_jsonl
from zhner.schemas import Task

pytest_plugins = ["doccano_fixtures"]
pytestmark = pytest.mark.doccano

Triple = tuple[int, int, str]


def as_user(srv: PlainServer, user: str) -> Connection:
    return Connection(url=srv.url, username=user, password=ANNOTATORS[user])


def seen_by(srv: PlainServer, user: str, project: str) -> dict[str, list[Triple]]:
    """What `user` sees logged in: segment id → their spans, through the API the web UI uses."""
    with connect(as_user(srv, user)) as gw:
        proj = find_work_project(gw, project, user)
        names = {t.id: t.text for t in gw.span_types(proj.id)}
        return {
            ex["meta"]["segment_id"]: sorted((s.start_offset, s.end_offset, names[s.label]) for s in gw.spans(proj.id, ex["id"]))
            for ex in gw.examples(proj.id)
        }  # fmt: skip


def news(n_articles: int, per_article: int, prefix: str = "n") -> list[Task]:
    out = []
    for a in range(n_articles):
        for s in range(per_article):
            text = f"第{a}篇第{s}句：西藏自治区党委在拉萨市召开会议。"
            start = text.index("拉萨市")
            out.append(make_task(f"{prefix}{a}-{s:03d}-00", text, [(start, start + 3, "GPE")]))
    return out


def cli(srv: PlainServer, *args: str):
    return CliRunner().invoke(app, list(args), env=srv.env())


def test_push_by_url_shows_each_annotator_the_preannotations(plain: PlainServer, tmp_path: Path) -> None:
    tasks = news(2, 2)
    path = write_tasks(tmp_path / "t.jsonl", tasks)
    routes = tmp_path / "assign.json"
    args = ("doccano", "push", str(path), "--project", "team", "--annotator", "alice", "--annotator", "bob",
            "--assignments", str(routes))  # fmt: skip
    res = cli(plain, *args)
    assert res.exit_code == 0 and "8 rows uploaded" in res.output, res.output
    expected = {t.meta.segment_id: sorted(t.label) for t in tasks}
    for user in ("alice", "bob"):
        assert seen_by(plain, user, "team") == expected
    again = cli(plain, *args)
    assert again.exit_code == 0 and "0 rows uploaded, 8 already there" in again.output, again.output
    pulled = pull(project="team", conn=plain.conn(), out_dir=tmp_path / "out")
    assert pulled.per_annotator == {"alice": 4, "bob": 4} and pulled.rejected == []


def test_routing_k1_with_20_percent_overlap(plain: PlainServer, tmp_path: Path) -> None:
    first = news(5, 4)  # 20 segments in 5 articles
    routes = tmp_path / "assign.json"
    kw = dict(project="routed", conn=plain.conn(), annotators=["alice", "bob"], assignments=routes)
    res = push(tasks_path=write_tasks(tmp_path / "a.jsonl", first), per_segment=1, overlap=0.2, seed=3, **kw)
    plan = routing.read_assignment(routes)
    assert len(plan.overlap_segments()) == 4 and res.uploaded == 24
    for user in ("alice", "bob"):
        assert sorted(seen_by(plain, user, "routed")) == sorted(plan.queue(user))
    assert abs(len(plan.queue("alice")) - len(plan.queue("bob"))) <= 4  # one article at most
    # a second push with new segments: what was routed stays, the new ones are dealt
    more = first + news(3, 4, prefix="m")
    push(tasks_path=write_tasks(tmp_path / "b.jsonl", more), **kw)  # K, overlap and seed from the file
    again = routing.read_assignment(routes)
    assert {sid: again.segments[sid] for sid in plan.segments} == plan.segments
    assert len(again.segments) == 32 and len(again.overlap_segments()) == 4 + round(0.2 * 12)
    for user in ("alice", "bob"):
        assert sorted(seen_by(plain, user, "routed")) == sorted(again.queue(user))
    # agreement is computed on exactly the overlap segments
    pulled = pull(project="routed", conn=plain.conn(), out_dir=tmp_path / "out")
    report, _ = agreement(path=pulled.path, segments=again.overlap_segments())
    assert report.doubly_annotated == len(again.overlap_segments()) and report.segments == report.doubly_annotated
    res = CliRunner().invoke(app, ["agreement", str(pulled.path), "--assignments", str(routes)])
    assert res.exit_code == 0 and f"{len(again.overlap_segments())} of {len(again.overlap_segments())} segments" in res.output


# honeypots: the gold and what the annotator is shown (meta.spans)
HP = {
    "hp0-000-00": ("新华社记者在拉萨报道。", [(0, 3, "ORG"), (6, 8, "GPE")], [(0, 3, "ORG"), (3, 5, "ORG")]),
    "hp1-000-00": ("西藏自治区党委召开会议。", [(0, 7, "ORG")], [(0, 5, "GPE")]),
}


def honeypot_file(path: Path) -> Path:
    tasks = []
    for sid, (text, gold, shown) in HP.items():
        meta = make_task(sid, text, shown).meta  # meta.spans: what the pre-annotator said
        tasks.append(Task(text=text, label=gold, meta=meta))
    return write_tasks(path, tasks)


def set_spans(srv: PlainServer, user: str, project: str, segment_id: str, spans: list[Triple]) -> None:
    """As `user`, make the example's spans exactly `spans` (delete all, create), through the API."""
    with connect(as_user(srv, user)) as gw:
        proj = find_work_project(gw, project, user)
        ids = {t.text: t.id for t in gw.span_types(proj.id)}
        ex = next(e for e in gw.examples(proj.id) if e["meta"]["segment_id"] == segment_id)
        for span in gw.spans(proj.id, ex["id"]):
            gw.delete_span(proj.id, ex["id"], span.id)
        for start, end, label in spans:
            gw.create_span(proj.id, ex["id"], start, end, ids[label])


def test_honeypots_are_mixed_in_left_out_of_the_pull_and_scored(plain: PlainServer, tmp_path: Path) -> None:
    tasks = news(2, 2, prefix="q")
    routes = tmp_path / "assign.json"
    res = push(tasks_path=write_tasks(tmp_path / "t.jsonl", tasks), project="traps", conn=plain.conn(),
               annotators=["alice", "bob"], assignments=routes, honeypots=honeypot_file(tmp_path / "hp.jsonl"),
               honeypot_share=0.5)  # fmt: skip
    assert res.honeypots == 4  # 0.5 of 4 segments: both honeypots for each annotator
    for user in ("alice", "bob"):  # in the queue like any segment, shown with the pre-annotations
        seen = seen_by(plain, user, "traps")
        assert {sid: seen[sid] for sid in HP} == {sid: sorted(shown) for sid, (_, _, shown) in HP.items()}
        assert len(seen) == 6
    for sid, (_, gold, _) in HP.items():  # alice finds the answer; bob accepts what he is shown
        set_spans(plain, "alice", "traps", sid, gold)
    set_spans(plain, "alice", "traps", "q0-000-00", [])  # and deletes one right pre-annotation
    pulled = pull(project="traps", conn=plain.conn(), out_dir=tmp_path / "out", assignments=routes)
    kept = list(read_jsonl(pulled.path, Task))
    assert {t.meta.segment_id for t in kept} == {t.meta.segment_id for t in tasks} and pulled.records == 8
    assert pulled.honeypots == 4 and pulled.honeypots_path.name.endswith(".honeypots.jsonl")
    gold = routing.read_assignment(routes).honeypots.gold
    report = annotator_report(corrected=pulled.path, honeypots=pulled.honeypots_path, gold=gold)
    alice, bob = report["alice"].rates(), report["bob"].rates()
    assert (alice["honeypot_f"], alice["wrong_accepted_rate"]) == (1.0, 0.0)
    # bob: 新华社 right, 记者 and 西藏自治区 wrong and kept, 拉萨 and 西藏自治区党委 missed: F = 2·1 / (3 + 3)
    assert bob["honeypot_f"] == pytest.approx(1 / 3) and bob["wrong_accepted_rate"] == 1.0
    assert (report["bob"].wrong_shown, report["bob"].wrong_accepted) == (2, 2)
    assert (alice["kept_rate"], alice["deleted_rate"], alice["acceptance_rate"]) == (0.75, 0.25, 0.75)
    assert (bob["kept_rate"], bob["deleted_rate"], bob["added_rate"], bob["acceptance_rate"]) == (1.0, 0.0, 0.0, 1.0)
    out = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["annotators", str(pulled.path), "--assignments", str(routes), "--output", str(out)])
    assert res.exit_code == 0 and "alice" in res.output and "0.333" in res.output, res.output
    assert json.loads(out.read_text())["bob"]["wrong_accepted"] == 2


def test_public_url_of_a_reverse_proxy_is_accepted_and_trusted(tmp_path: Path) -> None:
    """What Django loads for `server.public_url`: the proxy's host accepted, its origin trusted for
    the web UI's CSRF check; loopback stays accepted, other hosts do not."""
    import subprocess

    from doccano_helpers import require_doccano
    from zhner.doccano import server

    venv = require_doccano()
    env = server.server_env(venv, tmp_path, public_url="https://annotate.example.org/")
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.ALLOWED_HOSTS); print(s.CSRF_TRUSTED_ORIGINS)")  # fmt: skip
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env, cwd=server.backend_dir(venv),
                         capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out == ["['127.0.0.1', 'localhost', 'annotate.example.org']", "['https://annotate.example.org']"]
