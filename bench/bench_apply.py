"""Benchmark of `zhner apply`: characters/s of one pipeline over the same segments, locally in one
process, locally in a pool of two, and on a local Dask cluster of one and of two workers, in one run.

    python bench/bench_apply.py [--model models/zh_news_base] [--chars 150000] [--shard-size 100]

The segments are those `zhner ingest seeds/` writes, repeated under new ids up to `--chars`.
Each engine runs into a fresh folder; all outputs must be identical (checked: a benchmark that
measured a wrong run would mean nothing). Two rates per engine: over the whole command
(planning, cluster start, every worker loading the pipeline) and steady (from the first shard
written to the last). CPU times do not depend on the load as wall times do: that of this process
(which plans, reads, hashes and writes every shard; with one local process it also runs them),
that of the worker processes (starting, loading the pipeline, running shards) and that spent
inside the shards, whose characters per CPU second must be the same on every engine. The load average of the machine is recorded beside each run: on a shared
machine the ratios within one run are the figures, not the absolute rates. Measures, never
asserts. Writes bench/results/bench_apply.json.
"""

from __future__ import annotations

import os

# "one core" per process: keep numpy's BLAS from spreading over the machine's cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import srsly  # noqa: E402

from zhner.apply import apply  # noqa: E402
from zhner.ingest import ingest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ENGINES = {  # name → apply() options
    "local, 1 process": {"engine": "local", "n_process": 1},
    "local, 2 processes": {"engine": "local", "n_process": 2},
    "Dask, 1 worker": {"engine": "dask", "workers": 1},
    "Dask, 2 workers": {"engine": "dask", "workers": 2},
}


def make_input(folder: Path, chars: int) -> tuple[Path, int, int]:
    """Segments of seeds/ repeated under new ids up to `chars` characters: (path, documents, characters)."""
    ingest([ROOT / "seeds"], folder / "corpus")
    seeds = list(srsly.read_jsonl(folder / "corpus" / "segments.jsonl"))
    rows, total = [], 0
    while total < chars:
        for row in seeds:
            rows.append({**row, "id": f"r{len(rows)}-{row['id']}"})
            total += len(row["text"])
    path = folder / "segments.jsonl"
    srsly.write_jsonl(path, rows)
    return path, len(rows), total


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its ended children (the pool's and the local cluster's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def run(name: str, options: dict, path: Path, out: Path, args: argparse.Namespace) -> dict:
    """One engine over the input; wall time, steady time (first to last shard written) and load."""
    marks: list[tuple[float, int]] = []
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    summary = apply(model=args.model, inputs=[path], out=out, shard_size=args.shard_size, dashboard=None,
                    on_progress=lambda done, total: marks.append((time.perf_counter(), done)), **options)
    wall = time.perf_counter() - start
    (self_after, children_after), (self_before, children_before) = cpu_seconds(), cpu_before
    summary.raise_for_failures()
    written = [(t, d) for t, d in marks if d > 0]
    (t0, d0), (t1, d1) = written[0], written[-1]
    per_doc = summary.characters / summary.records
    return {
        "engine": name,
        "options": options,
        "characters": summary.characters,
        "seconds": round(wall, 2),
        "chars_per_s": round(summary.characters / wall),
        "steady_chars_per_s": round((d1 - d0) * per_doc / (t1 - t0)) if t1 > t0 else None,
        "cpu_s_this_process": round(self_after - self_before, 1),
        "cpu_s_worker_processes": round(children_after - children_before, 1),
        "cpu_s_in_shards": round(summary.shard_cpu_seconds, 1),
        "chars_per_cpu_s_in_shards": round(summary.characters / summary.shard_cpu_seconds),
        "worker_processes": len(summary.processes),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "zh_news_base"))
    parser.add_argument("--chars", type=int, default=150_000)
    parser.add_argument("--shard-size", type=int, default=100)
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path, documents, chars = make_input(Path(tmp), args.chars)
        outputs = {}
        for name in args.engines:
            out = Path(tmp) / f"out-{len(rows)}"
            rows.append(run(name, ENGINES[name], path, out, args))
            outputs[name] = {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.jsonl"))}
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        identical = all(o == outputs[args.engines[0]] for o in outputs.values())
    base = rows[0]
    for row in rows:
        row["ratio"] = round(row["chars_per_s"] / base["chars_per_s"], 2)
        if row["steady_chars_per_s"] and base["steady_chars_per_s"]:
            row["steady_ratio"] = round(row["steady_chars_per_s"] / base["steady_chars_per_s"], 2)
    result = {
        "date": datetime.date.today().isoformat(),
        "command": "python bench/bench_apply.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": args.model,
        "documents": documents,
        "characters": chars,
        "shard_size": args.shard_size,
        "outputs_identical": identical,
        "runs": rows,
    }
    print(f"\n{documents} segments, {chars:,} characters, shards of {args.shard_size}; outputs identical: {identical}")
    print("| engine | seconds | chars/s (whole command) | ÷ local 1 | chars/s (steady) | ÷ local 1 "
          "| CPU s: this process / workers / in shards | chars per CPU s in shards | load before → after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['seconds']} | {r['chars_per_s']:,} | {r['ratio']}× | "
              f"{r['steady_chars_per_s'] or 0:,} | {r.get('steady_ratio', '–')}× | {r['cpu_s_this_process']} / "
              f"{r['cpu_s_worker_processes']} / {r['cpu_s_in_shards']} | {r['chars_per_cpu_s_in_shards']:,} | "
              f"{r['load_1min_before']} → {r['load_1min_after']} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_apply.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
