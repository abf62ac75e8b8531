"""SIGINT and SIGTERM as an exception: clean-ups run on the way out, worker processes end first.

Without this SIGTERM kills a command where it stands (a `.part` file stays, spaCy's
`nlp.pipe(n_process=...)` workers are orphaned), and Python's own KeyboardInterrupt reaches
spaCy's clean-up, which joins workers blocked on a pipe that nobody reads any more: a deadlock.
Workers hold no outputs, so the handler kills them before it raises.

Python drops an exception raised inside an at-fork hook, a `__del__` or a weakref callback
("Exception ignored in ..."), and a signal can land there, typically while spaCy forks its
workers. So the signal is also remembered: a child forked after it ends at once, and the
library asks `raise_if_interrupted()` at safe points (once per document in preannotate).
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import resource_tracker
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_pending: int | None = None  # the signal this process is ending on, while a command runs
_owner: int | None = None  # the process that installed the handler (its forked workers inherit it)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def child_pids() -> set[int]:
    """Live child processes of this one, zombies excluded.

    Read from /proc where there is one: a worker forked while the handler runs is not yet in
    multiprocessing's own list, and one left out stays blocked on its pipe for ever.
    multiprocessing's resource tracker (started for spawned workers: zhner apply's pool, Dask's
    local cluster) is no worker: it ends with this process, and one killed is relaunched with a
    traceback for each semaphore it no longer knows.
    """
    me = os.getpid()
    pids = {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    proc = Path("/proc")
    if not proc.is_dir():
        return pids
    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue  # ended meanwhile
        if int(ppid) == me and state != "Z" and int(entry.name) != tracker:
            pids.add(int(entry.name))
    return pids


def kill(pids: Iterable[int]) -> None:
    """SIGKILL each process of `pids` (our own children: not reaped yet, so the pids are theirs)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def raise_if_interrupted() -> None:
    """Raise Interrupted if a signal came while a command runs: its first exception may have been lost."""
    if _pending is not None and os.getpid() == _owner:
        raise Interrupted(_pending)


def exit_may_block() -> bool:
    """Whether a normal exit would wait on multiprocessing: on a worker, or on a queue's feeder thread.

    spaCy's queues are fed by threads that Python's exit handlers join; one blocked writing to a
    worker that was killed (its pipe full, the read end still open in this process) never ends.
    """
    if multiprocessing.active_children():
        return True
    return any(t.name == "QueueFeederThread" and t.is_alive() for t in threading.enumerate())


def _forked_in_child() -> None:
    """A process forked after the signal (its exception lost in an at-fork hook) ends at once."""
    if _pending is not None and os.getpid() != _owner:
        os._exit(128 + _pending)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_in_child)


@contextmanager
def signals_raise() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM kill this process's children, then raise Interrupted."""
    global _pending, _owner
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    owner = os.getpid()

    def on_signal(signum: int, frame: object) -> None:
        global _pending
        if os.getpid() != owner:
            # a forked worker inherited this handler (Ctrl-C signals the whole process group):
            # it ends as the signal says, quietly, and the parent cleans up
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        _pending = signum
        # spaCy warns W127 "not all workers completed" on the way out: we ended them on purpose
        warnings.filterwarnings("ignore", message=r"\[W127\]")
        kill(child_pids())
        raise Interrupted(signum)

    unraisable = sys.unraisablehook

    def quiet_unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, Interrupted):  # a lost Interrupted is raised again at a safe point
            unraisable(info)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook = quiet_unraisable
    _pending, _owner = None, owner
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sys.unraisablehook = unraisable
        _pending, _owner = None, None
