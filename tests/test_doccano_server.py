"""The local server's life cycle: install, credentials, status, stop (real processes)."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from doccano_helpers import START_TIMEOUT_S, LocalServer
from zhner.cli import app
from zhner.doccano import server

pytest_plugins = ["doccano_fixtures"]
pytestmark = pytest.mark.doccano


def test_install_is_idempotent(doccano: LocalServer) -> None:
    assert server.install(venv=doccano.venv) is False  # pinned requirements already in place
    res = CliRunner().invoke(app, ["doccano", "install", "--venv", str(doccano.venv)])
    assert res.exit_code == 0 and "already installed" in res.output


def test_generated_admin_password_is_private(doccano: LocalServer) -> None:
    path = server.credentials_path(doccano.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = server.read_credentials(doccano.home)
    assert creds is not None and len(creds.password) >= 20 and creds.password != "password"
    assert server.init(venv=doccano.venv, home=doccano.home) == creds  # a second init keeps it


def test_listens_on_loopback_only(doccano: LocalServer) -> None:
    st = server.status(home=doccano.home)
    assert st.healthy and set(st.pids) == {"web", "worker"}
    conns = Path("/proc/net/tcp").read_text().splitlines()[1:]
    port_hex = f"{doccano.port:04X}"
    listening = [c.split()[1] for c in conns if c.split()[1].endswith(":" + port_hex) and c.split()[3] == "0A"]
    assert listening == ["0100007F:" + port_hex]  # 127.0.0.1, not 0.0.0.0


def test_status_cli_and_stop_of_nothing(doccano: LocalServer, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["doccano", "status", "--home", str(doccano.home)])
    assert res.exit_code == 0 and "healthy" in res.output and doccano.url in res.output
    assert server.stop(home=tmp_path) == {}  # no pid files: nothing is touched


def test_stop_then_start_keeps_the_data(doccano: LocalServer) -> None:
    before = httpx.get(f"{doccano.url}/v1/health/", params={"format": "json"}).status_code
    stopped = server.stop(home=doccano.home)
    assert set(stopped) == {"web", "worker"} and not server.status(home=doccano.home).running
    with pytest.raises(httpx.ConnectError):
        httpx.get(doccano.url)
    doccano.restart()
    assert before == 200 and server.status(home=doccano.home).healthy
    assert (doccano.home / "db.sqlite3").exists()


def test_admin_password_that_starts_with_a_dash(doccano: LocalServer, tmp_path: Path) -> None:
    # a generated password begins with "-" one time in 64; argparse once took it for an option
    creds = server.init(venv=doccano.venv, home=tmp_path / "home", admin_password="-dash-First-9")
    assert creds.password == "-dash-First-9"
    port = server.free_port()
    st = server.start(venv=doccano.venv, home=tmp_path / "home", port=port, workers=1, timeout=START_TIMEOUT_S)
    try:
        resp = httpx.post(f"{st.url}/v1/auth/login/", json={"username": "admin", "password": "-dash-First-9"})
        assert resp.status_code == 200 and resp.json()["key"]
    finally:
        server.stop(home=tmp_path / "home")


def test_the_celery_queue_is_declared_before_web_and_worker_race_to_insert_it(doccano: LocalServer, tmp_path: Path) -> None:
    import sqlite3

    from zhner.doccano.home import declare_broker_queue, server_env

    # once on a loaded machine the worker lost that race ("UNIQUE constraint failed: kombu_queue.name") and died
    home = tmp_path / "home"
    server.init(venv=doccano.venv, home=home)
    assert declare_broker_queue(doccano.venv, home, server_env(doccano.venv, home))
    # the next starts find the row in SQLite and skip Django's start-up
    assert not declare_broker_queue(doccano.venv, home, server_env(doccano.venv, home))
    with sqlite3.connect(home / "db.sqlite3") as db:
        assert db.execute("SELECT name FROM kombu_queue").fetchall() == [("celery",)]
    st = server.start(venv=doccano.venv, home=home, port=server.free_port(), workers=1, timeout=START_TIMEOUT_S)
    try:
        assert st.healthy and "UNIQUE constraint" not in (home / "logs" / "worker.log").read_text(encoding="utf-8")
    finally:
        server.stop(home=home)
