"""Move a local Doccano's data from its SQLite file to PostgreSQL, with nothing lost.

Django's own dump and load, run by Doccano's Python: every row of every Doccano table (users and
their tokens, projects, members and roles, label types, examples with their metadata, spans,
confirmations, comments) goes over with its primary key, foreign keys to content types by name
(their ids differ between databases). Left out: what the target's migrations make (content
types, permissions) and what is only history (sessions, the admin log, Celery task results).
Then the target's id sequences are moved past the loaded ids, so new rows get fresh ones. The
SQLite file is left as it was (a backup); the home records the new database, and every later
start uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zhner.doccano import home as hm
from zhner.doccano import server
from zhner.errors import fail

EXCLUDE = ("contenttypes", "auth.permission", "admin.logentry", "sessions", "django_celery_results")
_EMPTY = (
    "import sys; from django.contrib.auth.models import User; from projects.models import Project; "
    "sys.exit(3 if User.objects.exists() or Project.objects.exists() else 0)"
)
_RESET_SEQUENCES = (
    "from django.apps import apps; from django.core.management.color import no_style; "
    "from django.db import connection; "
    "sql = connection.ops.sequence_reset_sql(no_style(), apps.get_models()); "
    "cur = connection.cursor(); [cur.execute(s) for s in sql]"
)


@dataclass
class MoveResult:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # model → rows moved
    dump: Path | None = None


def move_database(*, venv: Path, home: Path, to: str) -> MoveResult:
    """Copy the home's SQLite data into the empty PostgreSQL database `to` and switch the home to it."""
    venv, home = Path(venv), Path(home)
    if server.status(home=home).running:
        raise fail("E327", reason=f"the server of {home} is running: stop it first (`zhner doccano stop`)")
    source = hm.database_url(home)
    target = hm.normalize_database(to)
    if not hm.is_sqlite(source) or not (home / "db.sqlite3").exists():
        raise fail("E327", reason=f"{home} has no SQLite database to move (it uses {hm.redact(source)})")
    if not hm.is_postgres(target):
        raise fail("E327", reason=f"the target {hm.redact(target)} is not a PostgreSQL URL")
    hm.install(venv=venv, postgresql=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dump = home / "run" / f"move-{stamp}.json"
    log = home / "logs" / "move-db.log"
    env_source = hm.server_env(venv, home)
    env_target = {**env_source, "DATABASE_URL": target}
    backend = hm.backend_dir(venv)
    manage = [str(venv / "bin" / "python"), str(backend / "manage.py")]
    excludes = [arg for app in EXCLUDE for arg in ("-e", app)]
    with hm._open_private(log, "a") as out:
        hm._run([*manage, "dumpdata", "--natural-foreign", "--natural-primary", *excludes, "--output", str(dump)],
                out, "dumping the SQLite database", log, env_source, backend)  # fmt: skip
        hm._run([*manage, "migrate", "--noinput"], out, "migrating the PostgreSQL database", log, env_target, backend)
        if hm._call([*manage, "shell", "-c", _EMPTY], out, env_target, backend) == 3:
            raise fail("E327", reason=f"{hm.redact(target)} already holds Doccano users or projects: give an empty database")
        hm._run([*manage, "loaddata", str(dump)], out, "loading into PostgreSQL", log, env_target, backend)
        hm._run([*manage, "shell", "-c", _RESET_SEQUENCES], out, "resetting id sequences", log, env_target, backend)
    hm.record_database(home, target)
    hm._migrated_marker(home, target).touch(mode=0o600)
    rows: dict[str, int] = {}
    for obj in json.loads(dump.read_text(encoding="utf-8")):
        rows[obj["model"]] = rows.get(obj["model"], 0) + 1
    hm.make_private(home)
    return MoveResult(source=source, target=hm.redact(target), rows=rows, dump=dump)
