"""Push and pull, as the CLI, the main job's round and the tests use them (one import place).

The work is in connection (who talks to which server), projects (the Doccano projects behind a
zhner project), routing (who gets which segment), push and pull.
"""

from zhner.doccano.connection import Connection, add_user, connect, local_connection
from zhner.doccano.projects import find_work_project, queue_name, read_guideline
from zhner.doccano.pull import PullResult, pull
from zhner.doccano.push import PushResult, load_tasks, push

__all__ = [
    "Connection", "PullResult", "PushResult", "add_user", "connect", "find_work_project", "load_tasks",
    "local_connection", "pull", "push", "queue_name", "read_guideline",
]  # fmt: skip
