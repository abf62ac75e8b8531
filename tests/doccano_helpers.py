"""Helpers of the Doccano tests: the local test server handle, task builders."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from zhner.doccano import server
from zhner.doccano.sync import Connection
from zhner.schemas import Span, Task, TaskMeta

REPO = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("ZHNER_DOCCANO_VENV") or REPO / ".doccano" / "venv")
ANNOTATORS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2"}
# How long a test waits for a server to answer (web and Celery). Longer than the CLI's 120 s default: CI runs
# beside other jobs, and on a loaded 2-core machine Celery's first health answer has taken more than 120 s.
START_TIMEOUT_S = 360


@dataclass
class LocalServer:
    url: str
    home: Path
    venv: Path
    username: str
    password: str
    port: int

    def conn(self, **kw: object) -> Connection:
        return Connection(url=self.url, username=self.username, password=self.password, home=self.home, venv=self.venv, **kw)

    def annotator_conn(self, name: str) -> Connection:
        return Connection(url=self.url, username=name, password=ANNOTATORS[name])

    def restart(self) -> None:
        server.stop(home=self.home)
        server.start(venv=self.venv, home=self.home, port=self.port, workers=2, timeout=START_TIMEOUT_S)


def require_doccano() -> Path:
    """Skip when Doccano is not installed, unless $CI is set: then its absence fails the run."""
    if not server.is_installed(VENV):
        reason = f"Doccano is not installed in {VENV}: run `zhner doccano install`"
        if os.environ.get("CI"):
            pytest.fail(reason + " ($CI is set, so this is an error, not a skip)")
        pytest.skip(reason)
    return VENV



def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def make_task(segment_id: str, text: str, spans: list[tuple[int, int, str]]) -> Task:
    meta = TaskMeta(
        segment_id=segment_id, article_id=segment_id.split("-")[0], text_sha1=sha1(text), model="test",
        model_version="1", spans=[Span(start=s, end=e, label=lab, source="model", score=0.9) for s, e, lab in spans],
    )  # fmt: skip
    return Task(text=text, label=list(spans), meta=meta)


def write_tasks(path: Path, tasks: list[Task]) -> Path:
    from zhner.io import write_jsonl

    write_jsonl(path, tasks)
    return path


@dataclass
class PlainServer:
    """A Doccano that zhner does not manage: started by the test with Doccano's own commands."""

    url: str
    username: str
    password: str

    def conn(self):
        return Connection(url=self.url, username=self.username, password=self.password)

    def env(self) -> dict[str, str]:
        """What the CLI needs to reach it with a plain --url."""
        return {"ZHNER_DOCCANO_URL": self.url, "ZHNER_DOCCANO_USERNAME": self.username,
                "ZHNER_DOCCANO_PASSWORD": self.password}  # fmt: skip


@contextmanager
def plain_doccano(venv: Path, home: Path, database_url: str | None = None) -> Iterator[PlainServer]:
    """`doccano init`, `createuser`, gunicorn on 127.0.0.1 and `doccano task`, as an admin would run
    them by hand (no zhner code involved); both processes stopped by pid at the end."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DJANGO"))}
    env.update(DOCCANO_HOME=str(home), DATABASE_URL=database_url or f"sqlite:///{home}/db.sqlite3",
               MEDIA_ROOT=str(home / "media"), STANDALONE="True", DEBUG="False", PATH=f"{venv / 'bin'}:{env['PATH']}")  # fmt: skip
    bin_ = venv / "bin"
    subprocess.run([str(bin_ / "doccano"), "init"], env=env, cwd=home, check=True, capture_output=True)
    password = "plain-Admin-Secret-3"
    subprocess.run([str(bin_ / "doccano"), "createuser", "--username", "boss", f"--password={password}"],
                   env=env, cwd=home, check=True, capture_output=True)  # fmt: skip
    port = server.free_port()
    log = (home / "processes.log").open("ab")  # closed in `finally`
    procs = [
        subprocess.Popen([str(bin_ / "gunicorn"), "--chdir", str(server.backend_dir(venv)), "--bind", f"127.0.0.1:{port}",
                          "--workers", "2", "--timeout", "300", "config.wsgi"], env=env, cwd=home, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(bin_ / "doccano"), "task", "--concurrency", "1"], env=env, cwd=home, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
    ]  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not server.health(url)[0]:
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), (home / "processes.log").read_text()[-2000:]
            time.sleep(0.5)
        yield PlainServer(url, "boss", password)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@dataclass
class Postgres:
    """A PostgreSQL server of the test's own on 127.0.0.1 (Debian's binaries)."""

    bindir: Path
    port: int
    user: str
    password: str
    run_as: dict

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        env = {**os.environ, "PGPASSWORD": self.password}
        subprocess.run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
                       env=env, check=True, capture_output=True)  # fmt: skip
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{name}"


def postgres_bindir() -> Path | None:
    """Where initdb and postgres are: Debian's /usr/lib/postgresql/<version>/bin (`make test` installs them)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def require_postgres() -> Path:
    """Skip when PostgreSQL is not installed, unless $CI is set: then its absence fails the run."""
    bindir = postgres_bindir()
    if bindir is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql; `make test` does it)"
        if os.environ.get("CI"):
            pytest.fail(reason + " ($CI is set, so this is an error, not a skip)")
        pytest.skip(reason)
    return bindir


@contextmanager
def local_postgres(bindir: Path) -> Iterator[Postgres]:
    """initdb + postgres on a free port of 127.0.0.1 in a folder of its own; stopped by pid at the
    end. PostgreSQL refuses to run as root: as root it runs as the `postgres` account."""
    import pwd
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="zhner-pg-", dir="/tmp"))
    run_as: dict = {}
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(base, pg.pw_uid, pg.pw_gid)
        run_as = {"user": pg.pw_uid, "group": pg.pw_gid, "extra_groups": []}
    user, password = "zhner", "pg-Secret-4"
    (base / "pw").write_text(password + "\n")
    if run_as:
        os.chown(base / "pw", run_as["user"], run_as["group"])
    data = base / "data"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={base / 'pw'}", "-A", "scram-sha-256",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True, cwd=base, **run_as)  # fmt: skip
    port = server.free_port()
    log = base / "postgres.log"
    with log.open("ab") as err:
        proc = subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                                 "-k", str(base), "-c", "fsync=off"], stdout=subprocess.DEVNULL, stderr=err, cwd=base,
                                start_new_session=True, **run_as)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        yield Postgres(bindir, port, user, password, run_as)
    finally:
        proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
