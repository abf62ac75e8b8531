"""`zhner apply`: real spaCy pipelines (conftest's tiny NER), real processes, a real Dask cluster.

The local run (one process) is the reference every other run must equal byte for byte, shard
for shard. Runs are killed for real (SIGKILL, SIGTERM) and resumed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import srsly
from typer.testing import CliRunner

from zhner.apply import apply
from zhner.apply.plan import MANIFEST, marker_path, output_path
from zhner.apply.work import loads
from zhner.cli import app
from zhner.errors import ZhnerError
from zhner.io import locked_folder, read_jsonl, sha256_file
from zhner.schemas import Applied, Segment

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "新华社北京电，国务院总理在北京会见了美国客人。",
    "中国人民银行今天在上海宣布新的政策。",
    "西藏自治区党委在拉萨召开会议。",
]


def write_segments(path: Path, n: int) -> Path:
    """`n` segments as `zhner ingest` writes them, cycling through TEXTS."""
    rows = []
    for i in range(n):
        text = TEXTS[i % len(TEXTS)]
        rows.append(Segment(id=f"art{i // 4}-{i % 4:03d}-00", article_id=f"art{i // 4}", paragraph=i % 4,
                            start=10 * (i % 4), end=10 * (i % 4) + len(text), text=text).model_dump())
    srsly.write_jsonl(path, rows)
    return path


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.jsonl"))}


def records(out: Path) -> list[Applied]:
    return [r for p in sorted((out / "shards").glob("*.jsonl")) for r in read_jsonl(p, Applied)]


@pytest.fixture
def segments(tmp_path: Path) -> Path:
    return write_segments(tmp_path / "segments.jsonl", 23)


@pytest.fixture
def reference(segments: Path, ner_pipeline: Path, tmp_path: Path) -> Path:
    """The local run in this process: what every engine must reproduce."""
    out = tmp_path / "reference"
    apply(model=ner_pipeline, inputs=[segments], out=out, shard_size=5)
    return out


@pytest.fixture(scope="module")
def scheduler():
    """A Dask cluster of two worker processes on 127.0.0.1, shared by this module's tests."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def test_local_run_writes_every_document_once_with_offsets_model_source_score(segments, reference, ner_pipeline):
    docs = records(reference)
    inputs = list(read_jsonl(segments, Segment))
    assert [d.id for d in docs] == [s.id for s in inputs]  # every document, once, in input order
    assert len(shard_bytes(reference)) == 5  # 23 documents in shards of 5
    for doc, segment in zip(docs, inputs):
        assert (doc.article_id, doc.offset, doc.model, doc.model_version) == (
            segment.article_id, segment.start, "zh_tiny_ner", "0.0.0")
        for ent in doc.entities:
            assert segment.text[ent.start : ent.end] == ent.text
            assert ent.source == "model" and 0.0 < ent.score <= 1.0
    bank = next(d for d, s in zip(docs, inputs) if s.text == TEXTS[1])
    assert ("中国人民银行", "ORG") in {(e.text, e.label) for e in bank.entities}
    assert "中国人民银行" in output_path(reference, 1).read_text(encoding="utf-8")  # characters, not \\u escapes
    manifest = srsly.read_json(reference / MANIFEST)
    assert manifest["complete"] is True and manifest["job"]["model"] == "zh_tiny_ner"
    for row in manifest["shards"]:
        assert row["output_sha256"] == sha256_file(output_path(reference, row["index"]))


def test_articles_jsonl_and_text_lines_are_inputs_too(ner_pipeline, tmp_path):
    articles = tmp_path / "articles.jsonl"
    srsly.write_jsonl(articles, [{"id": 7, "body": TEXTS[1], "title": "ignored"}])
    text = tmp_path / "archive" / "day1.txt"
    text.parent.mkdir()
    text.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = apply(model=ner_pipeline, inputs=[articles, text.parent], out=out, scores=False)
    docs = records(out)
    assert [(d.id, d.article_id) for d in docs] == [("7", "7"), ("day1.txt:1", "day1.txt:1"),
                                                    ("day1.txt:3", "day1.txt:3")]
    assert summary.shards == 2 and all(e.score is None for d in docs for e in d.entities)  # --no-scores


def test_text_files_of_the_same_name_in_two_folders_give_distinct_ids(ner_pipeline, tmp_path):
    for month in ("2024-01", "2024-02"):
        (tmp_path / "archive" / month).mkdir(parents=True)
        (tmp_path / "archive" / month / "news.txt").write_text(f"{TEXTS[0]}\n", encoding="utf-8")
    apply(model=ner_pipeline, inputs=[tmp_path / "archive"], out=tmp_path / "out", scores=False)
    assert [d.id for d in records(tmp_path / "out")] == ["2024-01/news.txt:1", "2024-02/news.txt:1"]


def test_a_pool_of_two_processes_equals_the_local_run(segments, reference, ner_pipeline, tmp_path):
    out = tmp_path / "pool"
    summary = apply(model=ner_pipeline, inputs=[segments], out=out, shard_size=5, n_process=2)
    assert shard_bytes(out) == shard_bytes(reference)
    # in the pool's processes (how many got work depends on how soon each had its pipeline loaded)
    assert summary.processes and os.getpid() not in summary.processes


def test_dask_cluster_of_two_workers_equals_the_local_run_shard_for_shard(segments, reference, ner_pipeline, tmp_path):
    seen: dict[str, object] = {}

    def on_cluster(address: str, dashboard: str | None) -> None:
        me = psutil.Process()
        listening = [c.laddr.ip for p in [me, *me.children(recursive=True)]
                     for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        seen.update(address=address, dashboard=dashboard, listening=listening)

    out = tmp_path / "dask"
    summary = apply(model=ner_pipeline, inputs=[segments], out=out, shard_size=5, engine="dask", workers=2,
                    dashboard="127.0.0.1:0", on_cluster=on_cluster)
    assert shard_bytes(out) == shard_bytes(reference)
    assert summary.written == 5 and len(summary.processes) == 2 and os.getpid() not in summary.processes
    assert seen["address"].startswith("tcp://127.0.0.1:") and seen["dashboard"].startswith("http://127.0.0.1:")
    assert seen["listening"] and set(seen["listening"]) == {"127.0.0.1"}  # scheduler, workers, dashboard
    left = [p for p in psutil.Process().children() if "resource_tracker" not in " ".join(p.cmdline())]
    assert not left, f"the local cluster was not closed: {left}"


def test_a_scheduler_address_runs_the_same_job_and_each_worker_loads_the_pipeline_once(
    segments, reference, ner_pipeline, tmp_path, scheduler
):
    out = tmp_path / "remote"
    apply(model=ner_pipeline, inputs=[segments], out=out, shard_size=5, engine="dask",
          scheduler=scheduler.scheduler.address)
    assert shard_bytes(out) == shard_bytes(reference)
    before = scheduler.run(loads)
    apply(model=ner_pipeline, inputs=[segments], out=tmp_path / "again", shard_size=5, engine="dask",
          scheduler=scheduler.scheduler.address)
    assert {k: v - before[k] for k, v in scheduler.run(loads).items()} == {k: 1 for k in before}  # once per run


def test_a_worker_with_another_pipeline_at_the_same_path_stops_the_run(
    segments, ner_pipeline, ontonotes_pipeline, tmp_path, scheduler
):
    model = tmp_path / "model"
    shutil.copytree(ner_pipeline, model)

    def replace_model(address: str, dashboard: str | None) -> None:  # after this process loaded it
        shutil.rmtree(model)
        shutil.copytree(ontonotes_pipeline, model)

    with pytest.raises(ZhnerError, match=r"E504\] a worker applied zh_onto_demo 3.2.1 .*\(zh_tiny_ner 0.0.0"):
        apply(model=model, inputs=[segments], out=tmp_path / "out", shard_size=5, engine="dask",
              scheduler=scheduler.scheduler.address, on_cluster=replace_model)
    assert not list((tmp_path / "out" / "shards").glob("*.jsonl"))


def test_a_bad_line_fails_its_shard_with_file_and_line_and_the_others_complete(ner_pipeline, tmp_path, scheduler):
    path = write_segments(tmp_path / "segments.jsonl", 23)
    lines = path.read_text(encoding="utf-8").splitlines()
    good = lines[6], lines[16]
    lines[6] = '{"id": "broken", "text": "新华社'  # line 7: shard 1
    lines[16] = '{"id": "no-text"}'  # line 17: shard 3
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = apply(model=ner_pipeline, inputs=[path], out=out, shard_size=5, engine="dask",
                    scheduler=scheduler.scheduler.address)
    assert [i for i, _ in summary.failed] == [1, 3]
    assert f"{path}:7: not valid JSON" in summary.failed[0][1]
    assert f"{path}:17: invalid record: text: Field required" in summary.failed[1][1]
    assert sorted(shard_bytes(out)) == ["000000.jsonl", "000002.jsonl", "000004.jsonl"]
    assert srsly.read_json(out / MANIFEST)["complete"] is False
    with pytest.raises(ZhnerError, match=r"E503.*2 of 5 shards failed"):
        summary.raise_for_failures()

    lines[6], lines[16] = good
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = apply(model=ner_pipeline, inputs=[path], out=out, shard_size=5)
    assert (again.written, again.skipped, again.failed) == (2, 3, [])
    assert len(records(out)) == 23


def test_the_cli_names_the_bad_line_and_exits_1(ner_pipeline, tmp_path):
    path = tmp_path / "segments.jsonl"
    path.write_bytes(b'{"id": "a", "text": "x"}\n\xff\n{"id": "b", "text": "y"}\n')
    result = CliRunner().invoke(app, ["apply", str(ner_pipeline), str(path), "--out", str(tmp_path / "o"),
                                      "--shard-size", "1"])
    assert result.exit_code == 1
    assert f"shard 1: [E010] {path}:2: not UTF-8" in result.output
    assert "[E503] 1 of 3 shards failed" in result.output
    assert "2 shards written" in result.output


def _run_cli(args: list[str], log: Path) -> subprocess.Popen:
    """`zhner apply ARGS` in a process of its own, its output into `log`."""
    # the environment as it is: zhner is importable here, so it is there (installed, or PYTHONPATH)
    with log.open("w") as f:
        return subprocess.Popen([sys.executable, "-m", "zhner", "apply", *args], cwd=REPO,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_after(proc: subprocess.Popen, out: Path, markers: int, sig: int, timeout: float = 120) -> None:
    """Send `sig` once `markers` shards are complete; fail if the run ended first."""
    deadline = time.monotonic() + timeout
    while len(list((out / "shards").glob("*.done.json"))) < markers:
        assert proc.poll() is None, "the run ended before it was killed"
        assert time.monotonic() < deadline, "no shard completed in time"
        time.sleep(0.02)
    proc.send_signal(sig)


def _state(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each complete shard's output: a rewrite changes them."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "shards").glob("*.jsonl")
            if marker_path(out, int(p.name.split(".")[0])).exists()}


def test_a_killed_run_restarted_redoes_only_the_incomplete_shards(ner_pipeline, tmp_path):
    path = write_segments(tmp_path / "segments.jsonl", 200)
    out = tmp_path / "out"
    proc = _run_cli([str(ner_pipeline), str(path), "--out", str(out), "--shard-size", "5"], tmp_path / "log")
    _kill_after(proc, out, markers=3, sig=signal.SIGKILL)
    proc.wait(30)
    before = _state(out)
    assert 3 <= len(before) < 40, "the kill came after the last shard: make the input longer"
    summary = apply(model=ner_pipeline, inputs=[path], out=out, shard_size=5)
    assert (summary.skipped, summary.written) == (len(before), 40 - len(before))
    assert {k: v for k, v in _state(out).items() if k in before} == before  # complete shards untouched
    assert [r.id for r in records(out)] == [s.id for s in read_jsonl(path, Segment)]  # none missing, none twice
    assert not list((out / "shards").glob(".*.part"))
    reference = tmp_path / "reference"
    apply(model=ner_pipeline, inputs=[path], out=reference, shard_size=5)
    assert shard_bytes(out) == shard_bytes(reference)


def test_sigterm_ends_a_dask_run_and_its_workers_and_the_rerun_completes(ner_pipeline, tmp_path):
    path = write_segments(tmp_path / "segments.jsonl", 200)
    out = tmp_path / "out"
    log = tmp_path / "log"
    proc = _run_cli([str(ner_pipeline), str(path), "--out", str(out), "--shard-size", "5", "--engine", "dask",
                     "--workers", "2", "--dashboard", "127.0.0.1:0"], log)
    _kill_after(proc, out, markers=2, sig=signal.SIGTERM)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert proc.wait(60) == 143, log.read_text()
    assert "interrupted by SIGTERM" in log.read_text()
    time.sleep(1)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    before = _state(out)
    summary = apply(model=ner_pipeline, inputs=[path], out=out, shard_size=5)
    assert summary.skipped == len(before) and summary.skipped + summary.written == 40
    assert [r.id for r in records(out)] == [s.id for s in read_jsonl(path, Segment)]


def test_resume_refuses_another_model_or_shard_size_and_force_starts_over(
    segments, reference, ner_pipeline, ontonotes_pipeline
):
    with pytest.raises(ZhnerError, match=r"E501.*model: 'zh_onto_demo' here, 'zh_tiny_ner' there"):
        apply(model=ontonotes_pipeline, inputs=[segments], out=reference, shard_size=5)
    with pytest.raises(ZhnerError, match=r"E501.*shard_size: 7 here, 5 there"):
        apply(model=ner_pipeline, inputs=[segments], out=reference, shard_size=7)
    summary = apply(model=ontonotes_pipeline, inputs=[segments], out=reference, shard_size=5, force=True)
    assert (summary.written, summary.skipped) == (5, 0)
    assert {r.model for r in records(reference)} == {"zh_onto_demo"}


def test_a_changed_input_redoes_only_the_shards_whose_lines_changed(segments, reference, ner_pipeline):
    lines = segments.read_text(encoding="utf-8").splitlines()
    segment = Segment.model_validate_json(lines[11])
    lines[11] = segment.model_copy(update={"id": "renamed"}).model_dump_json()
    segments.write_text("\n".join(lines[:18]) + "\n", encoding="utf-8")  # and 5 lines shorter
    summary = apply(model=ner_pipeline, inputs=[segments], out=reference, shard_size=5)
    assert (summary.written, summary.skipped, summary.removed) == (2, 2, 1)  # shard 2 changed, 3 is shorter
    assert [r.id for r in records(reference)] == [Segment.model_validate_json(x).id for x in lines[:18]]


def test_a_folder_of_other_files_or_held_by_another_run_is_refused(segments, reference, ner_pipeline, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"E502.*'notes.txt'"):
        apply(model=ner_pipeline, inputs=[segments], out=mine)
    with locked_folder(reference), pytest.raises(ZhnerError, match="E006"):
        apply(model=ner_pipeline, inputs=[segments], out=reference, shard_size=5)
