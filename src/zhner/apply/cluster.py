"""Shards on Dask distributed: a local cluster bound to 127.0.0.1, or any scheduler's address.

Imported only for `--engine dask` (distributed is the optional extra `zhner[dask]`). Workers get
each shard's bytes from this process and send back its output lines, so they need the pipeline
(same path or installed package) and zhner, but no access to the inputs or the output folder.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster, as_completed
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.worker import Worker

from zhner.apply.engines import IN_FLIGHT_PER_WORKER
from zhner.apply.plan import ShardInput
from zhner.apply.work import PipelineSpec, ShardOutput, preload, run_shard
from zhner.console import logger
from zhner.errors import fail


@contextmanager
def dask_client(*, scheduler: str | None, workers: int, dashboard: str | None) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a local cluster of `workers` processes
    bound to 127.0.0.1 (scheduler, workers and dashboard), closed again at the end."""
    with _quiet_distributed():
        yield from _client(scheduler=scheduler, workers=workers, dashboard=dashboard)


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Dask's log lines only with --verbose: a worker's start and stop, and the tracebacks of a
    cluster closed after a signal ended its workers (zhner.interrupt), are no news to a user.

    A failing shard still raises in this process (future.result()); nothing that matters is lost.
    """
    logs = [logging.getLogger(name) for name in ("distributed", "asyncio", "tornado")]
    levels = [log.level for log in logs]
    if not logger.isEnabledFor(logging.DEBUG):
        for log in logs:
            log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def _client(*, scheduler: str | None, workers: int, dashboard: str | None) -> Iterator[Client]:
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as err:
                raise fail("E505", address=scheduler, reason=str(err) or type(err).__name__) from None
        else:
            # one thread per worker: a worker's pipeline serves one shard at a time (work.Loaded.lock)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=dashboard, silence_logs=logging.ERROR)
            client = Client(cluster)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_link(client: Client) -> str | None:
    """The dashboard's address, or None when the scheduler serves none (bokeh not installed there)."""
    return client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None


class PipelinePlugin(WorkerPlugin):
    """Loads the pipeline on every worker before its first shard, and on workers that join later."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec

    def setup(self, worker: Worker) -> None:
        preload(self.spec)


def run_dask(client: Client, tasks: Iterable[ShardInput], spec: PipelineSpec) -> Iterator[ShardOutput]:
    """Shards on the cluster's workers, in completion order, a few in flight per worker thread
    (counted again after each shard: workers that join a running cluster get work too)."""
    client.register_plugin(PipelinePlugin(spec), name=f"zhner-apply-{spec.model}")
    run = uuid.uuid4().hex[:8]  # keys of this run only: another client of the scheduler never shares them
    todo = iter(tasks)

    def submit(task: ShardInput):  # noqa: ANN202  (a distributed Future)
        # pure=False: a shard is computed for this run, never taken from a cached result
        return client.submit(run_shard, task, spec, pure=False, key=f"zhner-apply-{run}-{task.index}")

    def top_up(futures: as_completed) -> None:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        for task in _take(todo, max(1, threads) * IN_FLIGHT_PER_WORKER - futures.count()):
            futures.add(submit(task))

    futures = as_completed()
    top_up(futures)
    try:
        for future in futures:
            result = future.result()
            future.release()
            yield result
            top_up(futures)
    finally:
        futures.clear()


def _take(items: Iterator[ShardInput], n: int) -> list[ShardInput]:
    return [item for _, item in zip(range(n), items)]
