"""Doccano on PostgreSQL: `serve --database-url`, and moving a SQLite home to PostgreSQL with
nothing lost (compared through both servers' exports and the REST API). The PostgreSQL server is
the test's own, on 127.0.0.1 (doccano_fixtures.postgres)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doccano_helpers import START_TIMEOUT_S, ANNOTATORS, LocalServer, Postgres, make_task, require_doccano, write_tasks
from zhner.cli import app
from zhner.doccano import server
from zhner.doccano.projects import layout
from zhner.doccano.sync import Connection, add_user, connect, find_work_project, push
from zhner.errors import ZhnerError

pytest_plugins = ["doccano_fixtures"]
pytestmark = pytest.mark.doccano


def web_env(home: Path) -> dict[str, str]:
    pid = server.status(home=home).pids["web"]
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_serve_on_postgresql_by_flag(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.create_database("serve_flag")
    home = tmp_path / "home"
    port = server.free_port()
    env = {"ZHNER_DOCCANO_VENV": str(require_doccano()), "ZHNER_DOCCANO_URL": None, "ZHNER_DOCCANO_USERNAME": None,
           "ZHNER_DOCCANO_PASSWORD": None, "ZHNER_DOCCANO_DATABASE_URL": None}  # fmt: skip
    try:
        res = CliRunner().invoke(app, ["doccano", "serve", "--home", str(home), "--port", str(port), "--database-url", url], env=env)
        assert res.exit_code == 0, res.output
        assert f"postgresql://zhner:***@127.0.0.1:{postgres.port}/serve_flag" in res.output.replace("\n", "")
        assert postgres.password not in res.output  # the password is never printed
        process_env = web_env(home)
        assert process_env["DATABASE_URL"] == url + "?sslmode=prefer" and not (home / "db.sqlite3").exists()
        # restart without the flag: the home remembers its database, the data is there
        creds = server.read_credentials(home)
        conn = Connection(url=f"http://127.0.0.1:{port}", username=creds.username, password=creds.password, home=home,
                          venv=require_doccano())  # fmt: skip
        add_user(conn=conn, username="alice", password=ANNOTATORS["alice"])
        server.stop(home=home)
        res = CliRunner().invoke(app, ["doccano", "serve", "--home", str(home), "--port", str(port)], env=env)
        assert res.exit_code == 0, res.output
        with connect(conn) as gw:
            assert gw.find_user("alice") is not None
    finally:
        server.stop(home=home)


def rows(data: bytes) -> list[dict]:
    """Exported rows by id (PostgreSQL's jsonb orders an example's metadata keys its own way)."""
    return sorted((json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()), key=lambda r: r["id"])


def snapshot(conn: Connection, project: str) -> dict:
    """Everything a team would miss: per queue its export (all rows, spans, metadata), the
    confirmed rows, members and roles, label types with colours, guideline; and the accounts."""
    out: dict = {}
    with connect(conn) as gw:
        for user, proj in sorted(layout(gw, project).queues.items()):
            files = gw.export(proj.id)
            approved = gw.export(proj.id, approved=True)
            out[user] = {
                "export": {k: rows(v) for k, v in files.items()},
                "approved": {k: rows(v) for k, v in approved.items()},
                "members": sorted((m.username, m.rolename) for m in gw.members(proj.id)),
                "labels": sorted((t.text, t.background_color, t.suffix_key) for t in gw.span_types(proj.id)),
                "project": gw.update_project(proj.id).model_dump(),
            }
        out["users"] = sorted((u["username"], u["is_superuser"]) for u in gw._json("GET", "/v1/users"))
    return out


def test_move_sqlite_to_postgresql_loses_nothing(postgres: Postgres, tmp_path: Path) -> None:
    venv = require_doccano()
    home = tmp_path / "home"
    creds = server.init(venv=venv, home=home)
    st = server.start(venv=venv, home=home, port=server.free_port(), workers=1, timeout=START_TIMEOUT_S)
    conn = Connection(url=st.url, username=creds.username, password=creds.password, home=home, venv=venv)
    try:
        for name, password in ANNOTATORS.items():
            add_user(conn=conn, username=name, password=password)
        tasks = [make_task(f"mv{i}-000-00", f"第{i}次会议在拉萨市召开。", [(len(str(i)) + 4, len(str(i)) + 7, "GPE")])
                 for i in range(30)]  # fmt: skip
        guideline = tmp_path / "g.md"
        guideline.write_text("# 规范\n地名标 GPE。\n", encoding="utf-8")
        push(tasks_path=write_tasks(tmp_path / "t.jsonl", tasks), project="move", conn=conn, annotators=["alice", "bob"],
             guideline_path=guideline)  # fmt: skip
        with connect(Connection(url=st.url, username="alice", password=ANNOTATORS["alice"])) as gw:  # alice works
            proj = find_work_project(gw, "move", "alice")
            first = next(iter(gw.examples(proj.id)))
            gw.delete_span(proj.id, first["id"], gw.spans(proj.id, first["id"])[0].id)
            gw.confirm(proj.id, first["id"])
        before = snapshot(conn, "move")
    finally:
        server.stop(home=home)
    url = postgres.create_database("moved")
    with pytest.raises(ZhnerError) as err:  # serving the home on PostgreSQL directly would leave the data behind
        server.init(venv=venv, home=home, database=url)
    assert err.value.code == "E326" and "move-db" in str(err.value) and postgres.password not in str(err.value)
    res = CliRunner().invoke(app, ["doccano", "move-db", "--to", url, "--home", str(home), "--venv", str(venv)])
    assert res.exit_code == 0, res.output
    assert "examples.example 60" in res.output and "labels.span 59" in res.output  # 2 queues × 30, one span deleted
    st = server.start(venv=venv, home=home, port=server.free_port(), workers=1, timeout=START_TIMEOUT_S)
    conn = Connection(url=st.url, username=creds.username, password=creds.password, home=home, venv=venv)
    try:
        assert web_env(home)["DATABASE_URL"].startswith("postgresql://")
        after = snapshot(conn, "move")
        assert after == before
        # new rows get fresh ids (the sequences were moved past the loaded ones): push more
        more = [make_task(f"mv{i}-000-00", f"第{i}次会议在拉萨市召开。", []) for i in range(30, 35)]
        again = push(tasks_path=write_tasks(tmp_path / "m.jsonl", tasks + more), project="move", conn=conn,
                     annotators=["alice", "bob"], guideline_path=guideline)  # fmt: skip
        assert (again.uploaded, again.already_there) == (10, 60)
    finally:
        server.stop(home=home)
