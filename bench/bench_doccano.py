"""Push and pull of 10,000 segments against Doccano's own import/export, in one run.

    python bench/bench_doccano.py [--n 10000]

Starts a private Doccano (temporary DOCCANO_HOME, free port on 127.0.0.1, the venv of
`zhner doccano install`), then times on the same task file: a bare upload through Doccano's
importer (one file, one Celery task; once before and once after the push, and their mean is the
reference), `push` into a fresh project, a repeated push (nothing to do), `pull`, and Doccano's
bare export. Prints a table and writes bench/results/bench_doccano.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from zhner.demo.tasks import hard_tasks
from zhner.doccano import server
from zhner.doccano.mapping import to_doccano
from zhner.doccano.sync import Connection, connect, pull, push
from zhner.doccano_settings import load_settings
from zhner.io import write_json, write_jsonl

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="segments")
    args = ap.parse_args()
    venv = load_settings().server.venv_path()
    with tempfile.TemporaryDirectory(prefix="bench-doccano-") as tmp:
        tmp_p = Path(tmp)
        home = tmp_p / "home"
        tasks = hard_tasks(args.n)
        path = tmp_p / "tasks.jsonl"
        write_jsonl(path, tasks)
        rows = "".join(json.dumps(to_doccano(t), ensure_ascii=False) + "\n" for t in tasks).encode("utf-8")
        creds = server.init(venv=venv, home=home)
        st = server.start(venv=venv, home=home, port=server.free_port())
        try:
            conn = Connection(st.url, creds.username, creds.password, home=home, venv=venv, timeout=600)
            with connect(conn) as gw:  # bare import before and after the push: no warm-up bias
                bare1 = gw.create_project("bare-1")
                t_bare1, _ = timed(lambda: gw.upload(bare1.id, rows, filename="tasks.jsonl"))
            t_push, res = timed(lambda: push(tasks_path=path, project="sync", conn=conn))
            with connect(conn) as gw:
                bare2 = gw.create_project("bare-2")
                t_bare2, _ = timed(lambda: gw.upload(bare2.id, rows, filename="tasks.jsonl"))
                t_bare_export, files = timed(lambda: gw.export(bare2.id))
            t_repush, res2 = timed(lambda: push(tasks_path=path, project="sync", conn=conn))
            t_pull, pulled = timed(lambda: pull(project="sync", conn=conn, out_dir=tmp_p / "out"))
            with connect(conn) as gw:  # the same project's export alone: what of the pull is Doccano's
                t_sync_export, _ = timed(lambda: gw.export(gw.find_project("sync@admin").id))  # the pusher's queue
        finally:
            server.stop(home=home)
    assert res.uploaded == args.n and res2.uploaded == 0 and pulled.records == args.n
    spans = sum(len(t.label) for t in tasks)
    t_bare_import = (t_bare1 + t_bare2) / 2
    table = [
        ("bare import, before push", t_bare1),
        ("bare import, after push", t_bare2),
        ("push (fresh project)", t_push),
        ("push again (no-op)", t_repush),
        ("bare export (Doccano download)", t_bare_export),
        ("pull", t_pull),
        ("Doccano export of the pushed project", t_sync_export),
    ]
    print(f"{args.n} segments, {spans} spans, {platform.node()} ({platform.processor() or platform.machine()})")
    print(f"{'step':38} {'seconds':>8} {'segments/s':>11}")
    for name, secs in table:
        print(f"{name:38} {secs:8.1f} {args.n / secs:11.0f}")
    both = (t_push + t_pull) / (t_bare_import + t_bare_export)
    print(f"push / bare import (mean of both) = {t_push / t_bare_import:.2f}x (goal <= 1.5x); "
          f"pull / bare export = {t_pull / t_bare_export:.2f}x (/ its own export {t_pull / t_sync_export:.2f}x); push + pull / bare import + export = {both:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "bench_doccano.json", {
        "segments": args.n, "spans": spans, "seconds": dict(table),
        "push_over_bare_import": t_push / t_bare_import, "pull_over_bare_export": t_pull / t_bare_export,
        "pull_over_its_own_export": t_pull / t_sync_export,
        "sync_over_bare": (t_push + t_pull) / (t_bare_import + t_bare_export),
    })  # fmt: skip


if __name__ == "__main__":
    main()
