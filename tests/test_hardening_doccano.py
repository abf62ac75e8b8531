"""Issue #14, Doccano side: a private home, credentials only for our own server, Django's key and
hosts, pulls that never replace each other, and push input that used to slip through.

Real files, real processes and a real Doccano server (doccano_fixtures); the "attacker" is a real
HTTP server on the port, recording what it is sent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from doccano_helpers import START_TIMEOUT_S, ANNOTATORS, LocalServer, make_task, require_doccano, write_tasks
from zhner.cli import app
from zhner.doccano import server
from zhner.doccano.projects import layout
from zhner.doccano.sync import Connection, add_user, connect, pull, push
from zhner.errors import ZhnerError
from zhner.io import read_jsonl
from zhner.schemas import Task

pytest_plugins = ["doccano_fixtures"]
pytestmark = pytest.mark.doccano

# the env variables that would let the CLI skip the local-server logic under test
NO_CLIENT_ENV = {"ZHNER_DOCCANO_URL": None, "ZHNER_DOCCANO_USERNAME": None, "ZHNER_DOCCANO_PASSWORD": None}


def tasks_file(path: Path, prefix: str = "h", n: int = 3) -> Path:
    tasks = [make_task(f"{prefix}{i}-000-00", f"第{i}次会议在拉萨市召开。", [(len(str(i)) + 4, len(str(i)) + 7, "GPE")])
             for i in range(n)]  # fmt: skip
    return write_tasks(path, tasks)


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env=NO_CLIENT_ENV)


# --- a listener that is not our server --------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Answers everything, as a credential thief would, and records each request."""

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        self.server.seen.append((self.command, self.path, body))  # type: ignore[attr-defined]
        if self.path.startswith(server.IDENTITY_PATH):
            answer = {"proof": self.server.proof}  # type: ignore[attr-defined]
        else:
            answer = {"key": "0" * 40, "id": 1, "username": "admin", "count": 0, "results": []}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = _handle

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def listener(port: int, proof: str = "") -> Iterator[list[tuple[str, str, str]]]:
    """A real HTTP server on 127.0.0.1:port for the duration; yields the requests it got."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    httpd.seen, httpd.proof = [], proof  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.seen  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def credentials_in(seen: list[tuple[str, str, str]], password: str) -> list[tuple[str, str]]:
    return [(m, p) for m, p, body in seen if password in body or password in p or "auth/login" in p]


# --- 1. the home is private --------------------------------------------------------------------


def tree(home: Path) -> list[Path]:
    """Everything under `home`; os.walk skips a folder that vanishes while it is listed."""
    return [Path(root) / name for root, dirs, files in os.walk(home) for name in [*dirs, *files]]


def loose_entries(home: Path) -> list[str]:
    """Everything in the home that another account could reach into, or that is not ours."""
    bad = []
    for path in [home, *tree(home)]:
        try:
            st = path.lstat()
        except FileNotFoundError:  # a journal gone between listing and lstat
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want or st.st_uid != os.getuid():
            bad.append(f"{path.relative_to(home.parent)} {oct(stat.S_IMODE(st.st_mode))} uid {st.st_uid}")
    return bad


class Watcher:
    """Lists the home every few milliseconds while Doccano works, to catch short-lived files
    (SQLite's -journal, staged exports) with loose modes."""

    def __init__(self, home: Path):
        self.home, self.bad, self.names = home, set(), set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.bad.update(loose_entries(self.home))
            self.names.update(p.name for p in tree(self.home))
            time.sleep(0.01)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def read_as_nobody(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["cat", str(path)], user=65534, group=65534, extra_groups=[], capture_output=True)


def web_environ(home: Path) -> dict[str, str]:
    """The environment the running web server got (readable by its own user only)."""
    pid = server.status(home=home).pids["web"]
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def doccano_default_key(venv: Path) -> str:
    base = (server.backend_dir(venv) / "config" / "settings" / "base.py").read_text()
    return re.search(r'SECRET_KEY = env\("SECRET_KEY", "([^"]+)"\)', base).group(1)


def test_home_is_private_across_serve_push_and_restart(doccano: LocalServer) -> None:
    """A home left 0755 with a 0644 file (as older zhner made it) is closed on serve, stays closed
    while Doccano writes, and another account can read nothing; the secret key outlives a restart."""
    venv = require_doccano()
    outer = Path(tempfile.mkdtemp(prefix="zhner-private-", dir="/tmp"))
    outer.chmod(0o755)  # reachable by every account, so only the home's own modes protect it
    home = outer / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "logs").mkdir(mode=0o755)
    (home / "logs").chmod(0o755)
    (home / "logs" / "old.log").write_text("left by an older zhner\n")
    (home / "logs" / "old.log").chmod(0o644)
    try:
        creds = server.init(venv=venv, home=home)
        st = server.start(venv=venv, home=home, port=server.free_port(), workers=1, timeout=START_TIMEOUT_S)
        conn = Connection(url=st.url, username=creds.username, password=creds.password, home=home, venv=venv)
        add_user(conn=conn, username="alice", password=ANNOTATORS["alice"])
        with Watcher(home) as watch:
            pushed = push(tasks_path=tasks_file(outer / "t.jsonl", n=300), project="private", conn=conn,
                          annotators=["alice"], batch_size=100)  # fmt: skip
            pull(project="private", conn=conn, out_dir=outer / "pulled")
        assert pushed.uploaded == 300 and pushed.spans_shared == 300
        assert any(name.endswith(".zip") for name in watch.names)  # it watched Doccano write (the export)
        assert watch.bad == set() and loose_entries(home) == []
        for name in ("db.sqlite3", "admin.json", "secret_key"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
        key = server.secret_key(home)
        assert web_environ(home)["SECRET_KEY"] == key and key != doccano_default_key(venv) and len(key) >= 50
        if os.geteuid() == 0:  # another local account, for real
            probe = outer / "probe.txt"
            probe.write_text("readable\n")
            probe.chmod(0o644)
            assert read_as_nobody(probe).returncode == 0  # the account can reach this folder...
            for name in ("db.sqlite3", "admin.json", "secret_key", "run/server.json"):
                assert read_as_nobody(home / name).returncode != 0, name  # ...but nothing in the home
        server.stop(home=home)
        server.start(venv=venv, home=home, port=server.free_port(), workers=1, timeout=START_TIMEOUT_S)
        assert server.secret_key(home) == key and web_environ(home)["SECRET_KEY"] == key  # stable
        assert loose_entries(home) == []
    finally:
        server.stop(home=home)
        shutil.rmtree(outer, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another account needs root")
def test_home_with_a_file_of_another_account_is_refused(tmp_path: Path) -> None:
    venv = require_doccano()
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    planted = home / "run" / "server.json"
    planted.write_text('{"url": "http://127.0.0.1:1"}\n')
    os.chown(planted, 65534, 65534)
    with pytest.raises(ZhnerError) as err:
        server.init(venv=venv, home=home)
    assert err.value.code == "E319" and str(planted) in str(err.value) and "uid 65534" in str(err.value)
    assert not (home / "admin.json").exists()  # nothing secret was written next to it


# --- 2. credentials go only to the server zhner started ---------------------------------------


def test_no_credentials_after_stop_or_crash(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = tasks_file(tmp_path / "t.jsonl")
    home = str(doccano.home)
    try:
        # a crash (SIGKILL) leaves the record behind with dead pids; something else takes the port
        server.kill(home=doccano.home)
        assert (doccano.home / "run" / "server.json").exists()
        with listener(doccano.port) as seen:
            res = cli("doccano", "push", str(tasks), "--project", "stale", "--home", home)
            assert res.exit_code == 1 and "[E320]" in res.output and "not running" in res.output, res.output
            res = cli("doccano", "pull", "--project", "stale", "--home", home, "--out", str(tmp_path / "p"))
            assert res.exit_code == 1 and "[E320]" in res.output, res.output
            res = cli("doccano", "adduser", "mallory", "--home", home)
            assert res.exit_code == 1 and "[E320]" in res.output, res.output
            # an annotator's password is no less worth stealing than the admin's
            res = cli("doccano", "annotate-gold", "--project", "stale", "--gold", str(tasks), "--user", "alice",
                      "--password", ANNOTATORS["alice"], "--home", home)  # fmt: skip
            assert res.exit_code == 1 and "[E320]" in res.output, res.output
        assert seen == []  # not even a request: the record's processes are gone
        # `stop` forgets the server: nothing to talk to, and the admin's password goes nowhere else
        server.stop(home=doccano.home)
        assert not (doccano.home / "run" / "server.json").exists()
        with listener(doccano.port) as seen:
            res = cli("doccano", "push", str(tasks), "--project", "stale", "--home", home)
            assert res.exit_code == 1 and "[E301]" in res.output and "no local server recorded" in res.output
            res = cli("doccano", "push", str(tasks), "--project", "stale", "--home", home, "--url", doccano.url)
            assert res.exit_code == 1 and "[E322]" in res.output, res.output
        assert seen == []
    finally:
        doccano.restart()
    assert push(tasks_path=tasks, project="stale", conn=doccano.conn()).uploaded == 3  # ours again


def test_listener_that_is_not_ours_gets_no_credentials(doccano: LocalServer, tmp_path: Path) -> None:
    """The record's pids are alive, but the URL reaches another process: it cannot prove the
    instance key, not even by replaying a proof our server gave for another challenge."""
    record_path = doccano.home / "run" / "server.json"
    record = record_path.read_text()
    replay = httpx.get(f"{doccano.url}{server.IDENTITY_PATH}", params={"challenge": "a" * 64}).json()["proof"]
    port = server.free_port()
    fake_url = f"http://127.0.0.1:{port}"
    try:
        record_path.write_text(record.replace(doccano.url, fake_url))
        conn = Connection(url=fake_url, username=doccano.username, password=doccano.password,
                          home=doccano.home, venv=doccano.venv)  # fmt: skip
        with listener(port, proof=replay) as seen:
            with pytest.raises(Exception) as err:  # noqa: PT011 - which one is asserted below
                push(tasks_path=tasks_file(tmp_path / "t.jsonl"), project="fake", conn=conn)
            res = cli("doccano", "pull", "--project", "fake", "--home", str(doccano.home), "--out", str(tmp_path))
        assert credentials_in(seen, doccano.password) == []  # what matters, asserted first
        assert [(m, p.split("?")[0]) for m, p, _ in seen] == [("GET", server.IDENTITY_PATH)] * 2
        assert isinstance(err.value, ZhnerError) and err.value.code == "E321" and fake_url in str(err.value)
        assert res.exit_code == 1 and "[E321]" in res.output, res.output
    finally:
        record_path.write_text(record)
    with connect(doccano.conn()) as gw:  # the real one proves itself
        assert gw.me().username == doccano.username


# --- 3. Django's key and hosts ------------------------------------------------------------------


def test_foreign_host_header_is_refused(doccano: LocalServer) -> None:
    health = f"{doccano.url}/v1/health/?format=json"
    assert httpx.get(health, headers={"Host": "attacker.example"}).status_code == 400
    assert httpx.get(health, headers={"Host": f"rebound.attacker.example:{doccano.port}"}).status_code == 400
    for host in ("127.0.0.1", "localhost"):
        assert httpx.get(health, headers={"Host": f"{host}:{doccano.port}"}).status_code == 200


def test_every_doccano_process_gets_this_homes_key(doccano: LocalServer) -> None:
    """What Django itself loads under the environment every Doccano process gets."""
    env = server.server_env(doccano.venv, doccano.home)
    code = "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY); print(s.ALLOWED_HOSTS)"
    backend = str(server.backend_dir(doccano.venv))
    out = subprocess.run([str(doccano.venv / "bin" / "python"), "-c", code], env=env, cwd=backend,
                         capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out == [server.secret_key(doccano.home), "['127.0.0.1', 'localhost']"]
    assert out[0] != doccano_default_key(doccano.venv)
    assert stat.S_IMODE(server.secret_key_path(doccano.home).stat().st_mode) == 0o600


# --- 9. pulls never replace each other ------------------------------------------------------------


def test_pulls_at_once_write_separate_intact_files(doccano: LocalServer, tmp_path: Path) -> None:
    push(tasks_path=tasks_file(tmp_path / "t.jsonl", prefix="race"), project="race", conn=doccano.conn())
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    out = tmp_path / "corrected"
    out.mkdir()
    (out / "race-20260102T030405Z.jsonl").write_text("someone's file\n")
    results, errors = [], []

    def run() -> None:
        try:
            results.append(pull(project="race", conn=doccano.conn(), out_dir=out, now=when))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    paths = sorted(r.path.name for r in results)
    assert paths == ["race-20260102T030405Z-2.jsonl", "race-20260102T030405Z-3.jsonl", "race-20260102T030405Z-4.jsonl"]
    assert (out / "race-20260102T030405Z.jsonl").read_text() == "someone's file\n"
    contents = {r.path.read_bytes() for r in results}
    assert len(contents) == 1 and len(list(read_jsonl(results[0].path, Task))) == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(["race-20260102T030405Z.jsonl", *paths])  # no temporaries


def test_cli_pulls_at_once_print_separate_paths(doccano: LocalServer, tmp_path: Path) -> None:
    """Three `zhner doccano pull` processes started together, as the issue saw two in one second:
    each prints its own file and every file is whole. (Whether they share a second depends on
    their start-up; the test above pins the clock.)"""
    push(tasks_path=tasks_file(tmp_path / "t.jsonl", prefix="cli"), project="twice", conn=doccano.conn())
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "zhner", "doccano", "pull", "--project", "twice", "--home", str(doccano.home),
           "--out", str(out)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in NO_CLIENT_ENV}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(3)]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    named = [re.search(r"to (\S+\.jsonl)", o.replace("\n", "")).group(1) for o in outputs]
    assert len(set(named)) == 3, outputs
    assert sorted(out.iterdir()) == sorted(Path(n) for n in named)  # three files, no temporaries
    assert all(len(list(read_jsonl(Path(n), Task))) == 3 for n in named)


# --- 10. push input that used to slip through -------------------------------------------------------


def bad_row(kind: str) -> dict:
    if kind == "meta-span-outside":
        row = make_task("bad-1", "在拉萨", [(1, 3, "GPE")]).model_dump(mode="json")
        row["meta"]["spans"][0]["end"] = 9
    elif kind == "whitespace-label":
        row = make_task("bad-1", "拉萨　 市", [(2, 4, "GPE")]).model_dump(mode="json")  # ideographic + ASCII space
    else:
        row = make_task("bad-1", "拉萨 市", [(0, 2, "GPE")]).model_dump(mode="json")
        row["meta"]["spans"].append({"start": 2, "end": 3, "label": "GPE", "source": "model", "score": 0.4})
    return row


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("meta-span-outside", "span [1, 9, 'GPE'] in meta.spans is outside the text (length 3)"),
        ("whitespace-label", "span [2, 4, 'GPE'] in label covers only whitespace"),
        ("whitespace-meta-span", "span [2, 3, 'GPE'] in meta.spans covers only whitespace"),
    ],
)
def test_bad_spans_are_refused_with_file_line_and_segment(
    doccano: LocalServer, tmp_path: Path, kind: str, needle: str
) -> None:
    good = make_task("good-1", "西藏自治区党委在拉萨市召开会议。", [(8, 11, "GPE")]).model_dump(mode="json")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (good, bad_row(kind))) + "\n", encoding="utf-8")
    project = f"bad-{kind}"
    with pytest.raises(ZhnerError) as err:
        push(tasks_path=path, project=project, conn=doccano.conn())
    assert err.value.code == "E310" and needle in str(err.value), str(err.value)
    assert "bad.jsonl:2" in str(err.value) and "segment bad-1" in str(err.value)
    with connect(doccano.conn()) as gw:
        assert not layout(gw, project).exists


def test_unknown_annotator_leaves_no_project(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = tasks_file(tmp_path / "t.jsonl", prefix="who")
    for members in ({"annotators": ["alice", "nosuchuser"]}, {"approvers": ["nosuchuser"]}):
        with pytest.raises(ZhnerError) as err:
            push(tasks_path=tasks, project="typo", conn=doccano.conn(), **members)
        assert err.value.code == "E314" and "'nosuchuser'" in str(err.value) and "adduser" in str(err.value)
    with connect(doccano.conn()) as gw:
        assert not layout(gw, "typo").exists
