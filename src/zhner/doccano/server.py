"""A local Doccano 1.8.4: start/stop web server and worker, status, and the identity check.

`doccano webserver` binds 0.0.0.0 whatever it is asked, so the web server is gunicorn started
here with Doccano's WSGI app on 127.0.0.1. Imports and exports are Celery tasks: the worker
(`doccano task`) runs beside it. Processes are started in their own session and stopped by the
pids recorded at start, never by name. The web app answers an identity challenge so a client can
tell our server from whatever else may listen on its port later (verify_identity). Installing,
the private home and `init` are in zhner.doccano.home (re-exported here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from zhner.console import logger
from zhner.doccano.home import (  # noqa: F401  (re-exported: server.init, server.install, … as before)
    PRIVATE_UMASK,
    Credentials,
    _open_private,
    _write_private,
    backend_dir,
    credentials_path,
    database_url,
    declare_broker_queue,
    init,
    install,
    is_installed,
    is_postgres,
    make_private,
    read_credentials,
    requirements_file,
    secret_key,
    redact,
    secret_key_path,
    server_env,
)
from zhner.errors import fail

PROCESSES = ("web", "worker")
IDENTITY_PATH = "/zhner/identity"
# children started by this process, kept so they can be waited for (and are not GC-ed while running)
_CHILDREN: dict[int, subprocess.Popen] = {}


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



def _pidfile(home: Path, name: str) -> Path:
    return Path(home) / "run" / f"{name}.pid"


def _start_ticks(pid: int) -> str | None:
    """The process start time from /proc: tells our process from a later one that reused its pid."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return line.rsplit(")", 1)[1].split()[19]


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
    log = _open_private(home / "logs" / f"{name}.log")
    proc = subprocess.Popen(
        cmd, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, umask=PRIVATE_UMASK,
    )  # fmt: skip
    log.close()
    _CHILDREN[proc.pid] = proc
    ticks = None
    for _ in range(50):  # /proc entry appears at once on Linux; be patient under load
        if (ticks := _start_ticks(proc.pid)) is not None:
            break
        time.sleep(0.02)
    _write_private(_pidfile(home, name), json.dumps({"pid": proc.pid, "ticks": ticks, "cmd": cmd}) + "\n")
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
    *, venv: Path, home: Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 2, timeout: float = 120,
    public_url: str | None = None,
) -> ServerStatus:  # fmt: skip
    """Start gunicorn and the Celery worker (if not yet running) and wait until healthy."""
    venv, home = Path(venv), Path(home)
    current = status(home=home)
    if current.running and current.healthy:
        return current
    if current.running:  # half up (one process died): start afresh
        stop(home=home)
    if not port_free(host, port):
        raise fail("E315", port=port, host=host)
    make_private(home)  # again on every start: Doccano or a user may have added files since
    env = server_env(venv, home, host=host, public_url=public_url)
    declare_broker_queue(venv, home, env)
    backend = backend_dir(venv)
    url = f"http://{host}:{port}"
    instance_key = secrets.token_hex(32)  # new on every start; see verify_identity
    web = [
        str(venv / "bin" / "gunicorn"), "--chdir", str(backend), "--bind", f"{host}:{port}",
        "--workers", str(workers), "--timeout", "300", "--access-logfile", "-", "zhner_doccano_wsgi:application",
    ]  # fmt: skip
    worker = [str(venv / "bin" / "doccano"), "task", "--concurrency", "1"]
    # recorded before the processes start, so a failed start is cleaned up by stop() like any other
    record = {"url": url, "host": host, "port": port, "instance_key": instance_key}
    _write_private(_server_file(home), json.dumps(record) + "\n")
    _spawn("web", web, home=home, env={**env, "ZHNER_INSTANCE_KEY": instance_key})
    _spawn("worker", worker, home=home, env=env)
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
        _wait_group_gone(pid, timeout=5)
        _reap(pid)  # the leader is a zombie or gone by now
    for name in PROCESSES:
        _pidfile(home, name).unlink(missing_ok=True)
    # the record names a port that anything may take from now on: nobody must send it credentials
    _server_file(home).unlink(missing_ok=True)
    return stopped


def kill(*, home: Path) -> dict[str, int]:
    """SIGKILL the server's processes at once, as a crash would (used to test resuming)."""
    killed = {}
    for name in PROCESSES:
        if (pid := _alive(home, name)) is not None:
            _signal_group(pid, signal.SIGKILL)
            while _running(pid):
                time.sleep(0.05)
            _wait_group_gone(pid, timeout=10)
            killed[name] = pid
    return killed


def _wait_group_gone(pgid: int, *, timeout: float) -> None:
    """Wait until no process of the group runs: gunicorn's workers hold the listening socket, and
    under load they can outlive their master by a moment, so the port is not yet free."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid`; zombies (left to an init that does not reap them,
    as in some containers) hold nothing and do not count."""
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            live.append(int(entry.name))
    return live


def _running(pid: int) -> bool:
    """Still running: not gone, and not a zombie (a zombie child of ours is reaped here)."""
    state = _proc_state(pid)
    _reap(pid)  # after reading the state: a child seen as a zombie above is collected now
    return state is not None and state != "Z"


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


def verify_identity(*, home: Path, url: str, timeout: float = 10.0) -> None:
    """Raise unless `url` is served by the server `start` recorded in `home`; call it before
    sending that server any credential.

    A record can outlive its server (a crash, a kill), and once the server is gone any local
    account may listen on its port and collect the password sent to it. So: (1) both recorded
    processes must still run (pid and start time, as `stop` checks them), else E320; (2) the
    server at `url` must answer a fresh random challenge with HMAC-SHA256(instance key, challenge),
    where the key was made at this start and lives only in the private home and in the server's
    environment, else E321. A listener that is not ours cannot compute it, and cannot replay an
    answer it saw, since the challenge is new each time."""
    home = Path(home)
    record = _read_record(home)
    if record is None or record["url"].rstrip("/") != url.rstrip("/"):
        raise fail("E320", record=_server_file(home), detail=f"no running server recorded for {url}")
    dead = [name for name in PROCESSES if _alive(home, name) is None]
    if dead:
        raise fail("E320", record=_server_file(home), detail=f"{' and '.join(dead)} not running")
    if "instance_key" not in record:  # a record written by an older zhner: cannot be checked
        raise fail("E321", url=url, home=home, reason="the record holds no instance key; restart the server")
    challenge = secrets.token_hex(32)
    expected = hmac.new(bytes.fromhex(record["instance_key"]), challenge.encode(), hashlib.sha256).hexdigest()
    try:
        resp = httpx.get(f"{url.rstrip('/')}{IDENTITY_PATH}", params={"challenge": challenge}, timeout=timeout)
        proof = resp.json().get("proof") if resp.status_code == 200 else None
    except httpx.HTTPError as err:
        raise fail("E301", url=url, reason=f"{type(err).__name__}: {err}") from None
    except (ValueError, AttributeError):
        proof = None
    if not isinstance(proof, str) or not hmac.compare_digest(proof, expected):
        raise fail("E321", url=url, home=home, reason=f"HTTP {resp.status_code}, no valid proof of identity")


def _read_record(home: Path) -> dict | None:
    info = _server_file(home)
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None
