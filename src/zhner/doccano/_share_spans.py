"""Run by Doccano's own Python (not zhner's): copy the importer's spans to annotators.

argv: <backend dir> <project id> <source user id> <user id>...; prints {"copied": n}.
A ledger table (zhner_shared) remembers which example went to which annotator, so a
re-run copies nothing twice and never brings back spans an annotator deleted.
"""

import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402

# the web server and worker write to the same SQLite file: wait for their locks, do not fail
connections["default"].settings_dict.setdefault("OPTIONS", {})["timeout"] = 120

from django.db import OperationalError, connection, transaction  # noqa: E402
from examples.models import Example  # noqa: E402
from labels.models import Span  # noqa: E402

project_id, source = int(sys.argv[2]), int(sys.argv[3])
users = [int(u) for u in sys.argv[4:]]
with connection.cursor() as cur:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS zhner_shared (example_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
        " PRIMARY KEY (example_id, user_id))"
    )


def share(user: int) -> int:
    """Copy to one annotator in one write transaction; returns the spans copied."""
    with transaction.atomic():
        with connection.cursor() as cur:
            # take the write lock first: a read that later upgrades to a write gets "database is
            # locked" at once, without waiting, when the worker writes at the same moment
            cur.execute("DELETE FROM zhner_shared WHERE 0")
            cur.execute(
                "SELECT s.example_id FROM zhner_shared s JOIN examples_example e ON e.id = s.example_id"
                " WHERE s.user_id = %s AND e.project_id = %s",
                [user, project_id],
            )
            done = {row[0] for row in cur.fetchall()}
        # filter in Python: SQLite caps the number of parameters of an IN (...) list
        todo = set(Example.objects.filter(project_id=project_id).values_list("id", flat=True)) - done
        spans = [s for s in Span.objects.filter(example__project_id=project_id, user_id=source) if s.example_id in todo]
        copies = [
            Span(example_id=s.example_id, user_id=user, label_id=s.label_id, start_offset=s.start_offset,
                 end_offset=s.end_offset, prob=s.prob, manual=False)
            for s in spans
        ]
        Span.objects.bulk_create(copies, batch_size=500)
        with connection.cursor() as cur:
            cur.executemany("INSERT OR IGNORE INTO zhner_shared VALUES (%s, %s)", [(e, user) for e in todo])
    return len(copies)


copied = 0
for user in users:
    if user == source:
        continue
    for attempt in range(10):
        try:
            copied += share(user)
            break
        except OperationalError as err:
            if "locked" not in str(err) or attempt == 9:
                raise
            time.sleep(0.5 * (attempt + 1))
print(json.dumps({"copied": copied}))
