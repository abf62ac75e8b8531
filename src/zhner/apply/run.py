"""`apply()`: a pipeline over a whole archive, shard by shard, resumable, locally or on Dask."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zhner.apply import plan as plans
from zhner.apply.engines import run_local
from zhner.apply.plan import Job, Shard
from zhner.apply.work import PipelineSpec, ShardOutput, pipeline
from zhner.config import load_labels
from zhner.errors import fail
from zhner.io import atomic_open, locked_folder, write_json

ENGINES = ("local", "dask")


@dataclass
class Summary:
    """What a run did: shards written now, shards found complete, shards that failed, and counts."""

    out: Path
    model: str
    model_version: str
    engine: str
    shards: int = 0
    written: int = 0
    skipped: int = 0
    removed: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    records: int = 0
    characters: int = 0
    entities: int = 0
    labels: Counter = field(default_factory=Counter)
    dropped_labels: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    dashboard: str | None = None
    processes: set[int] = field(default_factory=set)  # the worker processes that wrote shards
    shard_cpu_seconds: float = 0.0  # the workers' CPU time on the shards written (no start, no loading)

    def raise_for_failures(self) -> None:
        """E503 when a shard failed (the summary still tells what was written)."""
        if self.failed:
            index, error = self.failed[0]
            raise fail("E503", failed=len(self.failed), total=self.shards, first=f"shard {index}: {error}")


def apply(
    *,
    model: str | Path,
    inputs: Sequence[Path],
    out: Path,
    engine: str = "local",
    n_process: int = 1,
    workers: int = 2,
    scheduler: str | None = None,
    dashboard: str | None = "127.0.0.1:8787",
    shard_size: int = 1000,
    batch_size: int = 64,
    mapping: str = "ontonotes",
    scores: bool = True,
    labels: Path | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_cluster: Callable[[str, str | None], None] | None = None,
) -> Summary:
    """Apply `model` to every document of `inputs`; write shards and a manifest into `out`.

    Shards already complete in `out` (same job, same input bytes, output checksum intact) are
    kept; the others are (re)done. `on_progress(done, total)` counts documents of this run;
    `on_cluster(scheduler, dashboard)` is called once a Dask cluster is up.
    """
    if engine not in ENGINES:
        raise fail("E507", option="--engine", reason=f"{engine!r} is not one of {', '.join(ENGINES)}")
    if scheduler and engine != "dask":
        raise fail("E507", option="--scheduler", reason="a scheduler's address needs --engine dask")
    scheme = load_labels(labels)
    if mapping not in scheme.mappings:
        raise fail("E005", path=labels or "configs/labels.yml", reason=f"no mapping named {mapping!r}")
    files = plans.input_files(inputs)
    spec = PipelineSpec(model=str(model), scores=scores, batch_size=batch_size, mapping=mapping, scheme=scheme)
    # here too: a model that cannot load fails before any work, and its fingerprint names the job
    loaded = pipeline(spec, reload=True)
    labels_sha256 = hashlib.sha256(scheme.model_dump_json().encode()).hexdigest()
    job = Job(loaded.name, loaded.version, loaded.fingerprint, labels_sha256, mapping, scores, shard_size)
    out = Path(out)
    summary = Summary(out=out, model=loaded.name, model_version=loaded.version, engine=engine)
    started = time.perf_counter()
    _make_folder(out)
    with locked_folder(out):
        plans.check_folder(out, job, force=force)
        shards = plans.plan(files, shard_size)
        summary.shards = len(shards)
        summary.removed = plans.clear_shards(out, keep=len(shards))  # stale temporaries, a longer input's
        done = {s.index: marker for s in shards if (marker := plans.complete(out, s))}
        todo = [s for s in shards if s.index not in done]
        summary.skipped = len(done)
        for shard in todo:  # an old marker must not vouch for an output this run replaces
            plans.marker_path(out, shard).unlink(missing_ok=True)
        plans.write_manifest(out, job, shards, done, complete=False, engine=engine)
        outputs = _outputs(engine, plans.shard_inputs(todo, plans.document_names(files)), spec, n_process=n_process, workers=workers,
                           scheduler=scheduler, dashboard=dashboard, summary=summary, on_cluster=on_cluster)
        _write(outputs, out, {s.index: s for s in todo}, job, summary, done, on_progress)
        summary.seconds = time.perf_counter() - started
        plans.write_manifest(out, job, shards, done, complete=not summary.failed, engine=engine,
                             failed=[{"index": i, "error": e} for i, e in summary.failed])
    return summary


def _make_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise fail("E502", path=out, reason="it is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise fail("E011", path=out, action="create the output folder", reason=err.strerror) from None


def _outputs(
    engine: str, tasks: Iterable[plans.ShardInput], spec: PipelineSpec, *, n_process: int, workers: int,
    scheduler: str | None, dashboard: str | None, summary: Summary,
    on_cluster: Callable[[str, str | None], None] | None,
) -> Iterator[ShardOutput]:
    """The shards' outputs from the engine asked for; a Dask cluster lives as long as this generator."""
    if engine == "local":
        yield from run_local(tasks, spec, n_process)
        return
    try:
        from zhner.apply import cluster
    except ImportError as err:
        raise fail("E506", reason=str(err)) from None
    with cluster.dask_client(scheduler=scheduler, workers=workers, dashboard=dashboard) as client:
        summary.dashboard = cluster.dashboard_link(client)
        if on_cluster:
            on_cluster(client.scheduler.address, summary.dashboard)
        yield from cluster.run_dask(client, tasks, spec)


def _write(
    outputs: Iterator[ShardOutput], out: Path, todo: dict[int, Shard], job: Job, summary: Summary,
    done: dict[int, dict], on_progress: Callable[[int, int], None] | None,
) -> None:
    """Write each output, then its marker (the marker last: a shard killed between the two is redone)."""
    total, finished = sum(s.records for s in todo.values()), 0
    want = f"{job.model} {job.model_version}"
    if on_progress:
        on_progress(0, total)
    try:
        for result in outputs:
            shard = todo[result.index]
            finished += shard.records
            if result.model and (result.model, result.fingerprint) != (want, job.model_sha256):
                raise fail("E504", got=f"{result.model} (sha256 {result.fingerprint[:12]})",
                           want=f"{want} (sha256 {job.model_sha256[:12]})")
            if result.error is not None:
                summary.failed.append((shard.index, result.error))
            else:
                done[shard.index] = _write_shard(out, shard, result)
                _count(summary, result)
            if on_progress:
                on_progress(finished, total)
    finally:
        outputs.close()  # ends the workers (or the cluster) now, also on an error or a signal
    summary.failed.sort()


def _write_shard(out: Path, shard: Shard, result: ShardOutput) -> dict:
    with atomic_open(plans.output_path(out, shard), "wb") as f:
        f.write(result.data)
    marker = {
        "index": shard.index, "path": shard.path, "first_line": shard.first_line, "last_line": shard.last_line,
        "sha256": shard.sha256, "output_sha256": result.sha256, "records": result.records,
        "characters": result.characters, "entities": result.entities, "model": result.model,
    }
    write_json(plans.marker_path(out, shard), marker)
    return marker


def _count(summary: Summary, result: ShardOutput) -> None:
    summary.written += 1
    summary.processes.add(result.pid)
    summary.shard_cpu_seconds += result.cpu_seconds
    summary.records += result.records
    summary.characters += result.characters
    summary.entities += result.entities
    summary.labels.update(result.labels)
    summary.dropped_labels.update(result.dropped)

