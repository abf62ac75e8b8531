"""A local Doccano 1.8.4: install into its own venv, init, start/stop web server and worker, status.

`doccano webserver` binds 0.0.0.0 whatever it is asked, so the web server is gunicorn started
here with Doccano's WSGI app on 127.0.0.1. Imports and exports are Celery tasks: the worker
(`doccano task`) runs beside it, with the broker in the same SQLite file. Processes are started
in their own session and stopped by the pids recorded at start, never by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from zhner.console import logger
from zhner.errors import fail

PROCESSES = ("web", "worker")
_SHARE_SCRIPT = Path(__file__).with_name("_share_spans.py")
# children started by this process, kept so they can be waited for (and are not GC-ed while running)
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass
class ServerStatus:
    home: str
    url: str | None = None
    running: bool = False
    healthy: bool = False
    pids: dict[str, int] = field(default_factory=dict)
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def requirements_file() -> Path:
    """requirements/doccano.txt of the working directory, else of the repository."""
    local = Path.cwd() / "requirements" / "doccano.txt"
    return local if local.exists() else Path(__file__).resolve().parents[3] / "requirements" / "doccano.txt"


def is_installed(venv: Path) -> bool:
    return (Path(venv) / "bin" / "doccano").exists() and (Path(venv) / "bin" / "gunicorn").exists()


def _marker(venv: Path) -> Path:
    return Path(venv) / "zhner-requirements.sha256"


def install(*, venv: Path, requirements: Path | None = None, force: bool = False) -> bool:
    """Create the venv and pip-install the pinned requirements; returns False when already up to date."""
    venv, requirements = Path(venv), Path(requirements or requirements_file())
    if not requirements.exists():
        raise fail("E004", path=requirements)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = _marker(venv)
    if not force and is_installed(venv) and marker.exists() and marker.read_text().strip() == digest:
        return False
    venv.mkdir(parents=True, exist_ok=True)
    log = venv.parent / "install.log"
    with log.open("w", encoding="utf-8") as out:
        if not (venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(venv)], out, "creating the Doccano venv", log)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        _run([*pip, "-r", str(requirements)], out, "pip install -r " + str(requirements), log)
    marker.write_text(digest + "\n")
    return True


def _run(cmd: list[str], out, what: str, log: Path, env: dict | None = None) -> None:
    code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    if code != 0:
        raise fail("E308", what=what, exit_code=code, log=log)


def backend_dir(venv: Path) -> Path:
    found = sorted(Path(venv).glob("lib/python*/site-packages/backend"))
    if not found:
        raise fail("E307", venv=venv)
    return found[0]


def server_env(venv: Path, home: Path) -> dict[str, str]:
    """Environment of every Doccano process: settings, SQLite file and media under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        DOCCANO_HOME=str(home),
        DATABASE_URL=f"sqlite:///{home}/db.sqlite3",
        MEDIA_ROOT=str(home / "media"),
        STANDALONE="True",
        DEBUG="False",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
    )
    return env


def credentials_path(home: Path) -> Path:
    return Path(home) / "admin.json"


def read_credentials(home: Path) -> Credentials | None:
    path = credentials_path(home)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Credentials(data["username"], data["password"])


def _write_private(path: Path, text: str) -> None:
    """Write a file only the user can read (mode 0600 from its creation on), atomically."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def init(*, venv: Path, home: Path, admin_username: str = "admin", admin_password: str | None = None) -> Credentials:
    """Migrate the database and create the admin; idempotent. The password comes from the
    argument or $DOCCANO_ADMIN_PASSWORD, else a generated one kept in home/admin.json (0600)."""
    venv, home = Path(venv), Path(home)
    if not is_installed(venv):
        raise fail("E307", venv=venv)
    for sub in ("logs", "run", "media"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    admin_username = os.environ.get("DOCCANO_ADMIN_USERNAME") or admin_username
    admin_password = admin_password or os.environ.get("DOCCANO_ADMIN_PASSWORD")
    known = read_credentials(home)
    if known and known.username == admin_username and admin_password in (None, known.password):
        return known
    creds = Credentials(admin_username, admin_password or secrets.token_urlsafe(18))
    env = server_env(venv, home)
    log = home / "logs" / "init.log"
    with log.open("a", encoding="utf-8") as out:
        if not (home / "db.sqlite3").exists() or not (home / "run" / "migrated").exists():
            _run([str(venv / "bin" / "doccano"), "init"], out, "doccano init", log, env)
            (home / "run" / "migrated").touch()
        # the password travels in the environment, not on a command line other users can read;
        # `--password=VALUE` in one word, since argparse takes a value that starts with "-" (as
        # one generated password in 64 does) for an option and exits with 2
        script = (
            "import os, sys; from backend.cli import main; "
            "sys.argv = ['doccano', 'createuser', '--username=' + os.environ['ZHNER_U'], "
            "'--password=' + os.environ['ZHNER_P']]; main()"
        )
        env_user = {**env, "ZHNER_U": creds.username, "ZHNER_P": creds.password}
        _run([str(venv / "bin" / "python"), "-c", script], out, "doccano createuser", log, env_user)
    _write_private(credentials_path(home), json.dumps(asdict(creds)) + "\n")
    return creds


def _pidfile(home: Path, name: str) -> Path:
    return Path(home) / "run" / f"{name}.pid"


def _start_ticks(pid: int) -> str | None:
    """The process start time from /proc: tells our process from a later one that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(home: Path, name: str) -> int | None:
    """The pid recorded for `name` if that very process is still running."""
    path = _pidfile(home, name)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    pid = int(data["pid"])
    return pid if _start_ticks(pid) == data["ticks"] and _running(pid) else None


def _server_file(home: Path) -> Path:
    return Path(home) / "run" / "server.json"


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _spawn(name: str, cmd: list[str], *, home: Path, env: dict[str, str]) -> int:
    log = (home / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        cmd, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    _CHILDREN[proc.pid] = proc
    ticks = None
    for _ in range(50):  # /proc entry appears at once on Linux; be patient under load
        if (ticks := _start_ticks(proc.pid)) is not None:
            break
        time.sleep(0.02)
    _pidfile(home, name).write_text(json.dumps({"pid": proc.pid, "ticks": ticks, "cmd": cmd}) + "\n")
    return proc.pid


def health(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Doccano's health check (database, Celery, storage); (ok, reason)."""
    try:
        resp = httpx.get(f"{url}/v1/health/", params={"format": "json"}, timeout=timeout)
    except httpx.HTTPError as err:
        return False, f"{type(err).__name__}: {err}"
    if resp.status_code == 200:
        return True, "healthy"
    try:
        failing = {k: v for k, v in resp.json().items() if v != "working"}
    except ValueError:
        failing = resp.text[:200]
    return False, f"HTTP {resp.status_code} {failing}"


def start(
    *, venv: Path, home: Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 2, timeout: float = 120
) -> ServerStatus:
    """Start gunicorn and the Celery worker (if not yet running) and wait until healthy."""
    venv, home = Path(venv), Path(home)
    current = status(home=home)
    if current.running and current.healthy:
        return current
    if current.running:  # half up (one process died): start afresh
        stop(home=home)
    if not port_free(host, port):
        raise fail("E315", port=port, host=host)
    env = server_env(venv, home)
    backend = backend_dir(venv)
    url = f"http://{host}:{port}"
    web = [
        str(venv / "bin" / "gunicorn"), "--chdir", str(backend), "--bind", f"{host}:{port}",
        "--workers", str(workers), "--timeout", "300", "--access-logfile", "-", "config.wsgi",
    ]  # fmt: skip
    worker = [str(venv / "bin" / "doccano"), "task", "--concurrency", "1"]
    _spawn("web", web, home=home, env=env)
    _spawn("worker", worker, home=home, env=env)
    _server_file(home).write_text(json.dumps({"url": url, "host": host, "port": port}) + "\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok, reason = health(url, timeout=5)
        if ok:
            return status(home=home)
        if not (_alive(home, "web") and _alive(home, "worker")):
            break
        time.sleep(0.5)
    stop(home=home)
    raise fail("E309", timeout=timeout, log=home / "logs")


def stop(*, home: Path, timeout: float = 20) -> dict[str, int]:
    """Stop the processes started by `start` (by their recorded pids); returns what was stopped."""
    home = Path(home)
    stopped: dict[str, int] = {}
    for name in PROCESSES:
        pid = _alive(home, name)
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            stopped[name] = pid
    deadline = time.monotonic() + timeout
    for name, pid in stopped.items():
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _running(pid):
            logger.warning("doccano %s (pid %d) ignored SIGTERM; killing it", name, pid)
            _signal_group(pid, signal.SIGKILL)
            _reap(pid)
    for name in PROCESSES:
        _pidfile(home, name).unlink(missing_ok=True)
    return stopped


def kill(*, home: Path) -> dict[str, int]:
    """SIGKILL the server's processes at once, as a crash would (used to test resuming)."""
    killed = {}
    for name in PROCESSES:
        if (pid := _alive(home, name)) is not None:
            _signal_group(pid, signal.SIGKILL)
            while _running(pid):
                time.sleep(0.05)
            killed[name] = pid
    return killed


def _running(pid: int) -> bool:
    """Still running: not gone, and not a zombie (a zombie child of ours is reaped here)."""
    _reap(pid)
    ticks_state = _proc_state(pid)
    return ticks_state is not None and ticks_state != "Z"


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _signal_group(pid: int, sig: int) -> None:
    # each process was started as the leader of its own session: its group holds only its children
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect a child of this process once it ended, so it does not linger as a zombie."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        del _CHILDREN[pid]


def status(*, home: Path) -> ServerStatus:
    home = Path(home)
    result = ServerStatus(home=str(home))
    info = _server_file(home)
    if info.exists():
        result.url = json.loads(info.read_text())["url"]
    result.pids = {name: pid for name in PROCESSES if (pid := _alive(home, name)) is not None}
    result.running = bool(result.pids)
    if len(result.pids) < len(PROCESSES):
        result.detail = "not running" if not result.pids else f"only {', '.join(result.pids)} running"
        return result
    result.healthy, result.detail = health(result.url) if result.url else (False, "no url recorded")
    return result


def local_url(home: Path) -> str | None:
    info = _server_file(Path(home))
    return json.loads(info.read_text())["url"] if info.exists() else None


def share_preannotations(*, venv: Path, home: Path, project_id: int, source_user: int, users: list[int]) -> int:
    """Copy the importer's spans to each annotator who has not had them yet; returns spans copied.

    Individual projects show imported spans only to the importing user, and Doccano has no API
    to create spans for someone else, so this runs in Doccano's own environment against its
    database, in one transaction per annotator; a ledger table makes it idempotent."""
    if not users:
        return 0
    env = server_env(Path(venv), Path(home))
    cmd = [
        str(Path(venv) / "bin" / "python"), str(_SHARE_SCRIPT), str(backend_dir(Path(venv))),
        str(project_id), str(source_user), *map(str, users),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        log = Path(home) / "logs" / "share.log"
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise fail("E308", what=f"sharing pre-annotations with annotators ({last})", exit_code=proc.returncode, log=log)
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["copied"])
