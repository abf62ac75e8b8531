"""A team's Doccano: push and pull of 10,000 segments on PostgreSQL beside SQLite, and what
giving annotators the pre-annotations costs per 1,000 spans, in one run.

    python bench/bench_doccano_team.py [--n 10000] [--share-sample 1000]

Starts a private PostgreSQL on 127.0.0.1 (Debian's binaries, as the tests do; `make test`
installs them) and two Doccano servers of zhner (temporary homes, free ports): one on SQLite, one
on PostgreSQL. On each: push the same task file to two annotators (two queues, so 2n rows),
push it again (nothing to do), pull. Then, on SQLite, the pre-annotations of `--share-sample`
segments reach an annotator two ways: zhner's queue import (one upload) and, for comparison,
one REST call per span made as the annotator (what sharing without database access would cost
in one shared individual-mode project, given every annotator's password). Prints a table and
writes bench/results/bench_doccano_team.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' local PostgreSQL

from doccano_helpers import local_postgres, postgres_bindir  # noqa: E402

from zhner.demo.tasks import hard_tasks  # noqa: E402
from zhner.doccano import server  # noqa: E402
from zhner.doccano.mapping import to_doccano  # noqa: E402
from zhner.doccano.projects import ensure_labels  # noqa: E402
from zhner.doccano.sync import Connection, add_user, connect, pull, push  # noqa: E402
from zhner.doccano_settings import load_settings  # noqa: E402
from zhner.io import write_json, write_jsonl  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TEAM = {"alice": "alice-Bench-1", "bob": "bob-Bench-2"}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def round_trip(venv: Path, home: Path, tasks_path: Path, out: Path, database: str | None) -> dict[str, float]:
    """push to both annotators, push again, pull, on one fresh server."""
    creds = server.init(venv=venv, home=home, database=database)
    st = server.start(venv=venv, home=home, port=server.free_port())
    try:
        conn = Connection(st.url, creds.username, creds.password, home=home, venv=venv, timeout=600)
        for name, password in TEAM.items():
            add_user(conn=conn, username=name, password=password)
        kw = dict(tasks_path=tasks_path, project="bench", conn=conn, annotators=list(TEAM))
        t_push, first = timed(lambda: push(**kw))
        t_again, second = timed(lambda: push(**kw))
        t_pull, pulled = timed(lambda: pull(project="bench", conn=conn, out_dir=out))
    finally:
        server.stop(home=home)
    assert second.uploaded == 0 and pulled.records == first.uploaded
    return {"push": t_push, "push again": t_again, "pull": t_pull, "rows": first.uploaded}


def share_cost(venv: Path, home: Path, tasks_path: Path, sample: list) -> dict[str, float]:
    """Seconds per 1,000 spans: queue import vs one REST call per span as the annotator."""
    creds = server.init(venv=venv, home=home)
    st = server.start(venv=venv, home=home, port=server.free_port())
    try:
        conn = Connection(st.url, creds.username, creds.password, home=home, venv=venv, timeout=600)
        add_user(conn=conn, username="alice", password=TEAM["alice"])
        spans = sum(len(t.label) for t in sample)
        t_queue, _ = timed(lambda: push(tasks_path=tasks_path, project="share", conn=conn, annotators=["alice"]))
        with connect(Connection(st.url, "alice", TEAM["alice"])) as gw, connect(conn) as admin:
            # one shared individual-mode project: the admin's import shows alice no span
            proj = admin.create_project("individual", collaborative=False)
            ensure_labels(admin, proj.id)
            rows = "".join(json.dumps(to_doccano(t), ensure_ascii=False) + "\n" for t in sample).encode("utf-8")
            admin.upload(proj.id, rows)
            admin.add_member(proj.id, admin.find_user("alice").id, admin.roles()["annotator"])
            ids = {t.text: t.id for t in gw.span_types(proj.id)}
            by_segment = {e["meta"]["segment_id"]: e["id"] for e in gw.examples(proj.id)}
            t0 = time.perf_counter()
            for task in sample:
                for start, end, label in task.label:
                    gw.create_span(proj.id, by_segment[task.meta.segment_id], start, end, ids[label])
            t_api = time.perf_counter() - t0
    finally:
        server.stop(home=home)
    return {"spans": spans, "queue import per 1,000 spans": 1000 * t_queue / spans,
            "REST call per span, per 1,000 spans": 1000 * t_api / spans}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="segments")
    ap.add_argument("--share-sample", type=int, default=1000, help="segments for the sharing comparison")
    args = ap.parse_args()
    venv = load_settings().server.venv_path()
    server.install(venv=venv, postgresql=True)
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql (make test does it)")
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp, local_postgres(bindir) as pg:
        tmp_p = Path(tmp)
        tasks = hard_tasks(args.n)
        path = tmp_p / "tasks.jsonl"
        write_jsonl(path, tasks)
        sqlite = round_trip(venv, tmp_p / "sqlite", path, tmp_p / "out-sqlite", None)
        postgres = round_trip(venv, tmp_p / "pg", path, tmp_p / "out-pg", pg.create_database("bench"))
        sample_path = tmp_p / "sample.jsonl"
        write_jsonl(sample_path, tasks[: args.share_sample])
        share = share_cost(venv, tmp_p / "share", sample_path, tasks[: args.share_sample])
    print(f"{args.n} segments, {sum(len(t.label) for t in tasks)} spans, 2 annotators ({sqlite['rows']} rows); "
          f"{platform.node()} ({platform.processor() or platform.machine()})")  # fmt: skip
    print(f"{'step':14} {'SQLite s':>9} {'PostgreSQL s':>13} {'PG / SQLite':>12}")
    for step in ("push", "push again", "pull"):
        print(f"{step:14} {sqlite[step]:9.1f} {postgres[step]:13.1f} {postgres[step] / sqlite[step]:12.2f}")
    q, a = share["queue import per 1,000 spans"], share["REST call per span, per 1,000 spans"]
    print(f"pre-annotations to an annotator, per 1,000 spans ({share['spans']} measured): queue import {q:.2f} s, "
          f"one REST call per span {a:.1f} s ({a / q:.0f}x)")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "bench_doccano_team.json", {"segments": args.n, "sqlite": sqlite, "postgresql": postgres,
                                                     "share": share})  # fmt: skip


if __name__ == "__main__":
    main()
