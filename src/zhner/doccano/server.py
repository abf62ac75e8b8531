"""A local Doccano 1.8.4: install into its own venv, init, start/stop web server and worker, status.

`doccano webserver` binds 0.0.0.0 whatever it is asked, so the web server is gunicorn started
here with Doccano's WSGI app on 127.0.0.1. Imports and exports are Celery tasks: the worker
(`doccano task`) runs beside it, with the broker in the same SQLite file. Processes are started
in their own session and stopped by the pids recorded at start, never by name.

The home holds the admin's API token in db.sqlite3 and the admin password beside it, so it is
private to the user who runs the server: home 0700, every file 0600 (re-applied on each start, and
every Doccano process runs with umask 077, so SQLite's -journal/-wal files and exports are born
private). Doccano's public default SECRET_KEY and its ALLOWED_HOSTS = ['*'] are replaced through
a settings module of ours (_doccano_site/), and the web app answers an identity challenge so a
client can tell our server from whatever else may listen on its port later (verify_identity).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import stat
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
# zhner_doccano_settings (key, allowed hosts) and zhner_doccano_wsgi (identity route), imported by
# Doccano's Python; a folder of its own on PYTHONPATH, so nothing else of zhner can shadow Doccano
_SITE_DIR = Path(__file__).with_name("_doccano_site")
IDENTITY_PATH = "/zhner/identity"
# every process that writes into the home: files 0600, folders 0700
PRIVATE_UMASK = 0o077
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
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
    code = subprocess.call(
        cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, umask=PRIVATE_UMASK
    )
    if code != 0:
        raise fail("E308", what=what, exit_code=code, log=log)


def backend_dir(venv: Path) -> Path:
    found = sorted(Path(venv).glob("lib/python*/site-packages/backend"))
    if not found:
        raise fail("E307", venv=venv)
    return found[0]


def server_env(venv: Path, home: Path, *, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment of every Doccano process: our settings module, this home's secret key, the
    hosts it answers to, SQLite file and media under `home`. (A process's environment is
    readable by its own user only, unlike its command line.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        DOCCANO_HOME=str(home),
        DATABASE_URL=f"sqlite:///{home}/db.sqlite3",
        MEDIA_ROOT=str(home / "media"),
        STANDALONE="True",
        DEBUG="False",
        DJANGO_SETTINGS_MODULE="zhner_doccano_settings",
        PYTHONPATH=str(_SITE_DIR),
        SECRET_KEY=secret_key(home),
        ZHNER_ALLOWED_HOSTS=",".join(allowed_hosts(host)),
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
    )
    return env


def allowed_hosts(host: str) -> list[str]:
    """Host headers Django accepts: the bound host, and both loopback names when it is loopback."""
    return list(LOOPBACK_NAMES) if host in LOOPBACK_NAMES else [host]


def secret_key_path(home: Path) -> Path:
    return Path(home) / "secret_key"


def secret_key(home: Path) -> str:
    """This home's Django SECRET_KEY: made once (secrets module), kept 0600 beside admin.json."""
    path = secret_key_path(home)
    if not path.exists():
        Path(home).mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(path, secrets.token_urlsafe(50) + "\n")
    return path.read_text(encoding="utf-8").strip()


def make_private(home: Path) -> None:
    """Home 0700, every folder in it 0700 and every file 0600, all owned by us, or E319.

    Checked by lstat, never following a link: a link or file someone else placed in the home
    (possible while it was open to others) is refused rather than chmod-ed through."""
    home = Path(home)
    uid = os.getuid()
    for path in [home, *_tree(home)]:
        st = path.lstat()
        if st.st_uid != uid:
            raise fail("E319", path=path, uid=st.st_uid, home=home)
        if stat.S_ISLNK(st.st_mode):
            continue
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want:
            os.chmod(path, want)


def _tree(home: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(home):  # does not descend into links to folders
        found.extend(Path(root) / name for name in [*dirs, *files])
    return found


def _open_private(path: Path, mode: str = "ab"):
    """Open a file for appending that is created 0600 (a log in the home)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))


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
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(home)  # before anything secret is written into it
    for sub in ("logs", "run", "media"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    admin_username = os.environ.get("DOCCANO_ADMIN_USERNAME") or admin_username
    admin_password = admin_password or os.environ.get("DOCCANO_ADMIN_PASSWORD")
    known = read_credentials(home)
    if known and known.username == admin_username and admin_password in (None, known.password):
        return known
    creds = Credentials(admin_username, admin_password or secrets.token_urlsafe(18))
    env = server_env(venv, home)
    log = home / "logs" / "init.log"
    with _open_private(log, "a") as out:
        if not (home / "db.sqlite3").exists() or not (home / "run" / "migrated").exists():
            _run([str(venv / "bin" / "doccano"), "init"], out, "doccano init", log, env)
            (home / "run" / "migrated").touch(mode=0o600)
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
    make_private(home)
    return creds


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
    make_private(home)  # again on every start: Doccano or a user may have added files since
    env = server_env(venv, home, host=host)
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
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, umask=PRIVATE_UMASK
    )
    if proc.returncode != 0:
        log = Path(home) / "logs" / "share.log"
        _write_private(log, proc.stdout + proc.stderr)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise fail("E308", what=f"sharing pre-annotations with annotators ({last})", exit_code=proc.returncode, log=log)
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["copied"])
