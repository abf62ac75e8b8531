"""A local Doccano's home and environment: install into its own venv, the private home (0700,
files 0600), its secret key and admin credentials, the environment every Doccano process gets,
and `init` (migrate, create the admin).

The home holds the admin's API token in the database and the admin password beside it, so it is
private to the user who runs the server: home 0700, every file 0600 (re-applied on each start, and
every Doccano process runs with umask 077, so SQLite's -journal/-wal files and exports are born
private). Doccano's public default SECRET_KEY and its ALLOWED_HOSTS = ['*'] are replaced through
a settings module of ours (_doccano_site/).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
import sys
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from zhner.errors import fail

# zhner_doccano_settings (key, allowed hosts) and zhner_doccano_wsgi (identity route), imported by
# Doccano's Python; a folder of its own on PYTHONPATH, so nothing else of zhner can shadow Doccano
_SITE_DIR = Path(__file__).with_name("_doccano_site")
# every process that writes into the home: files 0600, folders 0700
PRIVATE_UMASK = 0o077
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def requirements_file(name: str = "doccano.txt") -> Path:
    """requirements/NAME of the working directory, else of the repository."""
    local = Path.cwd() / "requirements" / name
    return local if local.exists() else Path(__file__).resolve().parents[3] / "requirements" / name


def is_installed(venv: Path) -> bool:
    return (Path(venv) / "bin" / "doccano").exists() and (Path(venv) / "bin" / "gunicorn").exists()


def _marker(venv: Path, requirements: Path) -> Path:
    stem = "requirements" if requirements.name == "doccano.txt" else requirements.stem
    return Path(venv) / f"zhner-{stem}.sha256"


def install(*, venv: Path, requirements: Path | None = None, force: bool = False, postgresql: bool = False) -> bool:
    """Create the venv and pip-install the pinned requirements (and the PostgreSQL driver when
    asked); returns False when already up to date."""
    changed = _install(Path(venv), Path(requirements or requirements_file()), force)
    if postgresql:
        changed = _install(Path(venv), requirements_file("doccano-postgresql.txt"), force) or changed
    return changed


def _install(venv: Path, requirements: Path, force: bool) -> bool:
    if not requirements.exists():
        raise fail("E004", path=requirements)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = _marker(venv, requirements)
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


def _call(cmd: list[str], out, env: dict | None = None, cwd: Path | None = None) -> int:
    return subprocess.call(
        cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, umask=PRIVATE_UMASK, cwd=cwd
    )


def _run(cmd: list[str], out, what: str, log: Path, env: dict | None = None, cwd: Path | None = None) -> None:
    code = _call(cmd, out, env, cwd)
    if code != 0:
        raise fail("E308", what=what, exit_code=code, log=log)


def backend_dir(venv: Path) -> Path:
    found = sorted(Path(venv).glob("lib/python*/site-packages/backend"))
    if not found:
        raise fail("E307", venv=venv)
    return found[0]


# The Celery broker is Kombu's SQLAlchemy transport on Doccano's own database. Its queue row is created
# by whichever process first needs it, with no lock: the web process (answering a health check) and
# the worker starting at the same moment both INSERT it, and the loser (measured: the worker, on a
# loaded machine) dies of "UNIQUE constraint failed: kombu_queue.name". Declared once before they start,
# the row is there for both.
_DECLARE_QUEUE = (
    "import django; django.setup()\n"
    "from django.conf import settings\n"
    "from kombu import Connection\n"
    "with Connection(settings.CELERY_BROKER_URL) as conn:\n"
    "    conn.default_channel.queue_declare(queue='celery')\n"
)


def declare_broker_queue(venv: Path, home: Path, env: dict[str, str]) -> bool:
    """Create the Celery queue in the broker before the web process and the worker race to; False
    when an SQLite broker already holds it (read directly: Django's start-up costs ~2 s per server start)."""
    if _sqlite_queue_exists(env.get("DATABASE_URL", database_url(home))):
        return False
    log = Path(home) / "logs" / "init.log"
    with _open_private(log, "a") as out:
        _run([str(Path(venv) / "bin" / "python"), "-c", _DECLARE_QUEUE], out, "declaring the Celery queue", log, env,
             cwd=backend_dir(venv))
    return True


def _sqlite_queue_exists(url: str) -> bool:
    """Whether an SQLite database already has the broker's `celery` queue row (never for other databases)."""
    import sqlite3

    if not url.startswith("sqlite:///"):
        return False
    path = Path(url[len("sqlite:///"):]).absolute()  # sqlite:////abs/db.sqlite3 as dj-database-url reads it
    if not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM kombu_queue WHERE name = 'celery'").fetchone() is not None
    except sqlite3.Error:  # no broker tables yet (or a locked file): declare as before
        return False


def server_env(venv: Path, home: Path, *, host: str = "127.0.0.1", public_url: str | None = None) -> dict[str, str]:
    """Environment of every Doccano process: our settings module, this home's secret key, the
    hosts it answers to, its database (database_url: the recorded one, else SQLite in `home`)
    and media under `home`. `public_url` is the address annotators' browsers use when a reverse
    proxy serves the team (its host is accepted, its origin trusted for CSRF). (A process's
    environment is readable by its own user only, unlike its command line: the database password
    travels here.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        DOCCANO_HOME=str(home),
        DATABASE_URL=database_url(home),
        MEDIA_ROOT=str(home / "media"),
        STANDALONE="True",
        DEBUG="False",
        DJANGO_SETTINGS_MODULE="zhner_doccano_settings",
        PYTHONPATH=str(_SITE_DIR),
        SECRET_KEY=secret_key(home),
        ZHNER_ALLOWED_HOSTS=",".join(allowed_hosts(host, public_url)),
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
    )
    if public_url:
        parts = urlsplit(public_url)
        env["CSRF_TRUSTED_ORIGINS"] = f"{parts.scheme}://{parts.netloc}"
    return env


def allowed_hosts(host: str, public_url: str | None = None) -> list[str]:
    """Host headers Django accepts: the bound host (both loopback names when it is loopback), and
    the host of the public URL a reverse proxy serves."""
    hosts = list(LOOPBACK_NAMES) if host in LOOPBACK_NAMES else [host]
    public = urlsplit(public_url).hostname if public_url else None
    return hosts + ([public] if public and public not in hosts else [])


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


def init(
    *, venv: Path, home: Path, admin_username: str = "admin", admin_password: str | None = None,
    database: str | None = None,
) -> Credentials:  # fmt: skip
    """Migrate the database and create the admin; idempotent. The password comes from the
    argument or $DOCCANO_ADMIN_PASSWORD, else a generated one kept in home/admin.json (0600).
    `database` (a PostgreSQL URL) is recorded in the home and used from then on; without it the
    recorded one, else SQLite in the home."""
    venv, home = Path(venv), Path(home)
    if not is_installed(venv):
        raise fail("E307", venv=venv)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(home)  # before anything secret is written into it
    for sub in ("logs", "run", "media"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    choose_database(home, database)
    migrated = _migrated_marker(home)
    admin_username = os.environ.get("DOCCANO_ADMIN_USERNAME") or admin_username
    admin_password = admin_password or os.environ.get("DOCCANO_ADMIN_PASSWORD")
    known = read_credentials(home)
    if known and known.username == admin_username and admin_password in (None, known.password) and migrated.exists():
        return known
    creds = Credentials(admin_username, admin_password or secrets.token_urlsafe(18))
    env = server_env(venv, home)
    log = home / "logs" / "init.log"
    with _open_private(log, "a") as out:
        if not migrated.exists() or (is_sqlite(database_url(home)) and not (home / "db.sqlite3").exists()):
            _run([str(venv / "bin" / "doccano"), "init"], out, "doccano init", log, env)
            migrated.touch(mode=0o600)
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


# --- which database -------------------------------------------------------------------------


def _database_file(home: Path) -> Path:
    return Path(home) / "database_url"


def recorded_database(home: Path) -> str | None:
    """The database URL recorded in the home (0600: it may hold a password), if any."""
    path = _database_file(home)
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def database_url(home: Path) -> str:
    """The database every Doccano process of this home uses: the recorded URL, else SQLite in it."""
    return recorded_database(home) or f"sqlite:///{Path(home)}/db.sqlite3"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def is_postgres(url: str) -> bool:
    return url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql", "postgis")


def normalize_database(url: str) -> str:
    """A PostgreSQL URL with `sslmode` (prefer unless given): Doccano demands SSL when the URL has none."""
    if not (is_postgres(url) or is_sqlite(url)):
        raise fail("E324", what=f"database URL {redact(url)}", reason="use postgresql://USER:PASSWORD@HOST:PORT/DB or sqlite:////PATH")
    if is_postgres(url) and "sslmode=" not in url:
        url += ("&" if "?" in url else "?") + "sslmode=prefer"
    return url


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(://[^:/@]+:).*@", r"\1***@", url)


def choose_database(home: Path, url: str | None) -> str:
    """Record `url` as the home's database; refuse to leave a SQLite database with data behind
    silently (E326: move it with `zhner doccano move-db`)."""
    if url is None:
        return database_url(home)
    url = normalize_database(url)
    current = database_url(home)
    if url == current:
        return url
    if is_sqlite(current) and (Path(home) / "db.sqlite3").exists() and _migrated_marker(home, current).exists():
        raise fail("E326", home=home, url=redact(url))
    record_database(home, url)
    return url


def record_database(home: Path, url: str) -> None:
    """From now on every process of this home uses `url` (a migrated database is marked as such)."""
    _write_private(_database_file(home), url + "\n")


def _migrated_marker(home: Path, url: str | None = None) -> Path:
    """run/migrated for the home's SQLite file (as before), run/migrated-<hash> for another database."""
    url = url or database_url(home)
    if is_sqlite(url) and url == f"sqlite:///{Path(home)}/db.sqlite3":
        return Path(home) / "run" / "migrated"
    return Path(home) / "run" / f"migrated-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
