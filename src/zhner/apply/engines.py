"""Where shards run locally: in this process, or in a pool of processes (`--n-process`).

Every engine (this one and apply.cluster, Dask's) takes the shards' inputs lazily and yields
their outputs as they complete, keeping only a few shards in flight per worker; the calling
process writes every output (apply.run), so a cluster needs no shared file system and two
writers never meet.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import Any

from zhner.apply.plan import ShardInput
from zhner.apply.work import PipelineSpec, ShardOutput, preload, run_shard
from zhner.interrupt import child_pids, kill

IN_FLIGHT_PER_WORKER = 2  # one shard running, one waiting: workers never idle, little memory held


def run_local(tasks: Iterable[ShardInput], spec: PipelineSpec, n_process: int) -> Iterator[ShardOutput]:
    """Shards in this process (`n_process` 1), or in a pool of processes that each load the pipeline once."""
    if n_process == 1:
        for task in tasks:
            yield run_shard(task, spec)
        return
    running = child_pids()
    # spawn, not fork: a fork of a process whose threads hold locks (rich's progress bar) can hang
    pool = ProcessPoolExecutor(n_process, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_pool_worker, initargs=(spec,))
    try:
        yield from _bounded(lambda t: pool.submit(run_shard, t, spec), tasks, n_process * IN_FLIGHT_PER_WORKER)
    except BaseException:  # an error, a signal, or the caller stopped reading: the workers end here
        kill(child_pids() - running)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_pool_worker(spec: PipelineSpec) -> None:
    # Ctrl-C signals the whole process group: the parent ends its workers itself (zhner.interrupt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload(spec)


def _bounded(submit: Callable[[ShardInput], Future], tasks: Iterable[ShardInput], window: int) -> Iterator[Any]:
    """Results of `submit` over `tasks` in completion order, at most `window` submitted at a time."""
    todo = iter(tasks)
    pending = {submit(t) for t in islice(todo, window)}
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
            pending.update(submit(t) for t in islice(todo, 1))
