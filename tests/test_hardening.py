"""Fault holes of issue #14, each reproduced with real files, real processes and real spaCy pipelines.

Hostile inputs (HTML in segment text, a FIFO, /dev/zero, file names and JSONL that are not UTF-8,
a broken pipeline config, symlink loops), two runs into one folder, signals in the middle of a run.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zhner.cli import app
from zhner.errors import ZhnerError
from zhner.evaluate import evaluate
from zhner.ingest import ingest
from zhner.preannotate import preannotate

REPO = Path(__file__).resolve().parents[1]
SEEDS = sorted((REPO / "seeds").glob("*.txt"))
ENGLISH = "The committee met on Tuesday to discuss the annual budget and the new roads.\n" * 5
runner = CliRunner()
# sentences the pipelines of conftest.py (ner_pipeline, ontonotes_pipeline) find entities in
TEXTS = ["新华社北京电，国务院总理在北京会见了美国客人。", "中国人民银行今天在上海宣布新的政策。"]


def _segment(seg_id: str, text: str) -> dict:
    article = seg_id.split("-")[0]
    return {"id": seg_id, "article_id": article, "paragraph": 0, "start": 0, "end": len(text), "text": text}


def write_segments(path: Path, texts: list[str]) -> Path:
    srsly.write_jsonl(path, [_segment(f"art{i}-000-00", text) for i, text in enumerate(texts)])
    return path


def run_zhner(*args: object, timeout: float = 300, limit_memory: bool = False) -> subprocess.CompletedProcess:
    """`zhner ARGS` in a fresh process whose stdout is strict UTF-8, as on most terminals."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def cap() -> None:  # a runaway read fails fast instead of taking the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    return subprocess.run(
        [sys.executable, "-m", "zhner", *map(os.fspath, args)],
        capture_output=True, timeout=timeout, env=env, preexec_fn=cap if limit_memory else None,
    )


def said(done: subprocess.CompletedProcess) -> str:
    return (done.stdout + done.stderr).decode("utf-8", "backslashreplace")


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ruler_pipeline(path: Path, patterns: list[tuple[str, str]]) -> str:
    nlp = spacy.blank("zh")  # character segmenter: no model files needed
    nlp.add_pipe("entity_ruler").add_patterns([{"label": label, "pattern": text} for text, label in patterns])
    nlp.to_disk(path)
    return str(path)


def gold_docbin(path: Path, docs: list[tuple[str, str, list[tuple[int, int, str]]]]) -> Path:
    nlp = spacy.blank("zh")
    db = DocBin(store_user_data=True)
    for seg_id, text, ents in docs:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc.user_data["segment_id"] = seg_id
        db.add(doc)
    db.to_disk(path)
    return path


# --- 4. report.md: segment text is data, never markup --------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>|北京"
HOSTILE = f"{SCRIPT}在{IMG}开会"


def test_report_md_escapes_html_and_pipes_from_segment_text(tmp_path: Path) -> None:
    s, i = HOSTILE.index(SCRIPT), HOSTILE.index(IMG)
    data = gold_docbin(
        tmp_path / "gold.spacy",
        [("seg<b>1</b>", HOSTILE, [(s, s + len(SCRIPT), "ORG"), (i, i + len(IMG), "GPE")])],
    )
    # type error on the <script> span (same bounds, GPE), boundary error on 北京 inside the <img> span
    model = ruler_pipeline(tmp_path / "model", [(SCRIPT, "GPE"), ("北京", "GPE")])
    evaluate(model=model, data=data, out=tmp_path / "reports")
    md = (tmp_path / "reports" / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; GPE" in md
    assert "&lt;img src=x onerror=alert(2)&gt;\\|北京 GPE" in md
    rows = [line for line in md.splitlines() if line.startswith("| seg")]
    assert len(rows) == 2
    for row in rows:  # document, kind, gold, found as: the pipe in the entity does not open a column
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row


# --- 5. two runs into one output folder ------------------------------------------------------

RACER = r"""
import sys, time
from zhner.cli import app
print("READY", flush=True)
for line in sys.stdin:
    start, out, *inputs = line.rstrip("\n").split("\t")
    time.sleep(max(0.0, float(start) - time.time()))
    try:
        code = app(["ingest", *inputs, "--out", out], standalone_mode=False) or 0
    except SystemExit as exc:
        code = exc.code
    print(f"RESULT {code}", flush=True)
"""


def _until(proc: subprocess.Popen, prefix: str) -> tuple[str, list[str]]:
    said = []
    while line := proc.stdout.readline():
        if line.startswith(prefix):
            return line[len(prefix):].strip(), said
        said.append(line)
    raise AssertionError(f"the racer ended: {said}")


def assert_one_run(corpus: Path) -> None:
    """Articles, segments and splits all come from the same run."""
    articles = {a["id"] for a in lines_of(corpus / "articles.jsonl")}
    assert {s["article_id"] for s in lines_of(corpus / "segments.jsonl")} == articles
    assert set(json.loads((corpus / "splits.json").read_text(encoding="utf-8"))["articles"]) == articles


def test_two_concurrent_ingests_into_one_folder_one_wins_whole(tmp_path: Path) -> None:
    # two real processes, imports done, released at the same instant into a fresh folder, 16 times
    inputs = [[str(p) for p in SEEDS[:2]], [str(p) for p in SEEDS[2:]]]  # different articles: a mix shows
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        for _ in inputs
    ]
    raced = 0
    try:
        for racer in racers:
            _until(racer, "READY")
        for attempt in range(16):
            out = tmp_path / f"corpus{attempt}"
            start = time.time() + 0.3
            for racer, files in zip(racers, inputs):
                racer.stdin.write("\t".join([str(start), str(out), *files]) + "\n")
                racer.stdin.flush()
            results = [_until(racer, "RESULT ") for racer in racers]
            codes = sorted(int(code) for code, _ in results)
            assert codes == [0, 1], (attempt, results)
            loser = "".join(next(text for code, text in results if code == "1"))
            assert "[E006]" in loser or "[E001]" in loser, loser  # E001: the winner had already finished
            raced += "[E006]" in loser
            assert_one_run(out)
            assert not list(out.glob(".*"))  # no staging folder or part file left
        assert raced, "no two runs overlapped: the race was not tried"
    finally:
        for racer in racers:
            racer.stdin.close()
            racer.wait(timeout=60)
            racer.stdout.close()


def test_a_held_output_folder_is_refused_by_convert_and_evaluate(tmp_path: Path, ontonotes_pipeline) -> None:
    from zhner.io import output_dir

    reports = tmp_path / "reports"
    data = gold_docbin(tmp_path / "gold.spacy", [("s1", "北京开会", [(0, 2, "GPE")])])
    with output_dir(reports, [], force=True):  # another run holds the folder
        result = runner.invoke(app, ["evaluate", str(ontonotes_pipeline), str(data), "--out", str(reports)])
        assert result.exit_code == 1 and "[E006]" in result.output, result.output
        splits = tmp_path / "splits.json"
        srsly.write_json(splits, {"articles": {"a": "train"}})
        corrected = tmp_path / "c.jsonl"
        srsly.write_jsonl(corrected, [{"text": "北京", "label": [], "meta": {"segment_id": "a-000-00"}}])
        args = ["convert", str(corrected), "--out", str(reports), "--splits", str(splits)]
        result = runner.invoke(app, [*args, "--model", str(ontonotes_pipeline)])
        assert result.exit_code == 1 and "[E006]" in result.output, result.output
    assert sorted(p.name for p in reports.iterdir()) == []


def test_outputs_are_swapped_in_only_when_the_run_succeeds(tmp_path: Path) -> None:
    from zhner.io import output_dir

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a", encoding="utf-8")
    (out / "b.txt").write_text("old b", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with output_dir(out, ["a.txt", "b.txt"], force=True) as staging:
            (staging / "a.txt").write_text("new a", encoding="utf-8")
            raise RuntimeError("the run fails before writing b.txt")
    assert [(out / n).read_text(encoding="utf-8") for n in ("a.txt", "b.txt")] == ["old a", "old b"]
    with output_dir(out, ["a.txt", "b.txt"], force=True) as staging:
        (staging / "a.txt").write_text("new a", encoding="utf-8")  # b.txt is not an output of this run
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with output_dir(fresh, ["a.txt"], force=False):
            raise RuntimeError("a run that fails leaves no folder behind either")
    assert not fresh.exists()


# --- 6. signals in the middle of `preannotate` -----------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (zombies excluded), from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@pytest.mark.parametrize(
    ("n_process", "signum", "to_group"),
    [
        (2, signal.SIGINT, False),  # `kill -INT` to the parent: it deadlocked with its workers
        (2, signal.SIGINT, True),  # Ctrl-C: the terminal signals parent and workers alike
        (2, signal.SIGTERM, False),  # left two orphan workers
        (1, signal.SIGTERM, False),  # left a hidden .part file for good
    ],
    ids=["j2-sigint", "j2-ctrl-c", "j2-sigterm", "j1-sigterm"],
)
def test_a_signal_mid_run_ends_workers_and_leaves_no_part_file(
    tmp_path: Path, ner_pipeline, n_process: int, signum: int, to_group: bool
) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]}第{i}号文件。" for i in range(30_000)]
    segments = write_segments(tmp_path / "segments.jsonl", texts)
    out = tmp_path / "tasks" / "big.jsonl"
    args = ["preannotate", segments, "--model", ner_pipeline, "--out", out, "-j", str(n_process)]
    log = (tmp_path / "log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "zhner", *map(os.fspath, args), "--batch-size", "16"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 240
        processes = 1 + n_process if n_process > 1 else 1  # -j 1 runs in the parent alone
        while not (list(out.parent.glob(".*.part")) and len(group_members(proc.pid)) >= processes):
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.2)
        time.sleep(2)  # well into the run: workers busy, pipes full
        assert proc.poll() is None
        (os.killpg if to_group else os.kill)(proc.pid, signum)
        sent = time.time()
        code = proc.wait(timeout=30)
        assert time.time() - sent < 15
        output = (tmp_path / "log").read_text(encoding="utf-8", errors="backslashreplace")
        assert code == 128 + signum, output
        assert "Traceback" not in output and "interrupted" in output
        assert list(out.parent.iterdir()) == []  # neither the output nor a .part file
        deadline = time.time() + 5
        while group_members(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert group_members(proc.pid) == []  # no orphan worker
    finally:
        for pid in group_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        log.close()


FORK_HIT = r"""
import os, signal, sys
from zhner.cli import app
hook, nth, signum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
forks = 0
def hit():
    global forks
    forks += 1
    if forks == nth:
        os.kill(os.getpid(), signum)  # handled inside the fork hooks, where Python drops exceptions
os.register_at_fork(**{hook: hit})
app(sys.argv[4:], prog_name="zhner")
"""


@pytest.mark.parametrize(
    ("hook", "nth", "signum"),
    [
        ("before", 1, signal.SIGINT),  # lost before the first worker exists: the run went on to the end
        ("before", 2, signal.SIGTERM),  # lost after the first worker was killed: the second blocked for ever
        ("after_in_parent", 1, signal.SIGTERM),
        ("after_in_parent", 2, signal.SIGINT),  # the second worker, not yet listed, was left running
    ],
    ids=["before-fork-1", "before-fork-2", "after-fork-1", "after-fork-2"],
)
def test_a_signal_while_a_worker_is_forked_still_ends_the_run(
    tmp_path: Path, ner_pipeline, hook: str, nth: int, signum: int
) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]}第{i}号文件。" for i in range(3000)]
    segments = write_segments(tmp_path / "segments.jsonl", texts)
    out = tmp_path / "tasks" / "t.jsonl"
    args = ["preannotate", segments, "--model", ner_pipeline, "--out", out, "-j", "2", "--batch-size", "16"]
    proc = subprocess.Popen([sys.executable, "-c", FORK_HIT, hook, str(nth), str(int(signum)), *map(os.fspath, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output = proc.communicate(timeout=120)[0].decode("utf-8", "backslashreplace")
        assert proc.returncode == 128 + signum, output
        assert "Traceback" not in output and "Exception ignored" not in output and "interrupted" in output, output
        assert list(out.parent.iterdir()) == []
        deadline = time.time() + 5
        while group_members(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert group_members(proc.pid) == []
    finally:
        for pid in group_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()


# --- 7. only regular files are read, and never more than the limit ---------------------------


def test_fifo_and_dev_zero_among_inputs_are_rejected_without_reading(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SEEDS[1], folder / "001.txt")
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    done = run_zhner("ingest", folder, "--out", tmp_path / "corpus", timeout=90, limit_memory=True)
    assert done.returncode == 0, said(done)
    rejected = {Path(r["file"]).name: r for r in json.loads((tmp_path / "corpus" / "rejected.json").read_text())}
    assert {name: r["code"] for name, r in rejected.items()} == {"pipe.txt": "E009", "zero.txt": "E009"}
    assert "named pipe" in rejected["pipe.txt"]["reason"]
    assert "character device" in rejected["zero.txt"]["reason"] and "/dev/zero" in rejected["zero.txt"]["reason"]
    assert len(lines_of(tmp_path / "corpus" / "articles.jsonl")) == 1
    # a FIFO named directly is refused the same way, not reported as missing
    done = run_zhner("ingest", folder / "pipe.txt", "--out", tmp_path / "c2", timeout=90)
    assert done.returncode == 1 and "[E009]" in said(done) and "not found" not in said(done), said(done)


def test_a_file_whose_size_lies_is_read_no_further_than_the_limit() -> None:
    from zhner.io import read_regular_file

    maps = Path("/proc/self/maps")  # a regular file whose stat size is 0, with kilobytes of content
    assert maps.stat().st_size == 0
    with pytest.raises(ZhnerError, match=r"E107.*more than 100 bytes"):
        read_regular_file(maps, limit=100)


# --- 8. names and lines that are not UTF-8 ----------------------------------------------------


def test_file_names_that_are_not_utf8_are_ingested_and_reported(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path / "in")
    os.mkdir(folder)
    shutil.copy(SEEDS[1], folder + b"/\xff\xfe.txt")
    with open(folder + b"/\xfd-english.txt", "w", encoding="utf-8") as f:
        f.write(ENGLISH)
    done = run_zhner("ingest", folder, "--out", tmp_path / "corpus")
    assert done.returncode == 0 and "Traceback" not in said(done), said(done)
    assert [a["file"] for a in lines_of(tmp_path / "corpus" / "articles.jsonl")] == ["\\xff\\xfe.txt"]
    rejected = json.loads((tmp_path / "corpus" / "rejected.json").read_text(encoding="utf-8"))
    assert [(Path(r["file"]).name, r["code"]) for r in rejected] == [("\\xfd-english.txt", "E104")]
    assert "\\xfd-english.txt" in said(done)


def test_jsonl_that_is_not_utf8_is_named_by_file_and_line(tmp_path: Path, ontonotes_pipeline) -> None:
    def line(i: int, encoding: str) -> bytes:
        record = json.dumps(_segment(f"a-00{i}-00", "XX"), ensure_ascii=False).encode()
        return record.replace(b"XX", "北京".encode(encoding))

    segments = tmp_path / "segments.jsonl"
    # line 2 in GB18030, as an editor set to a Chinese locale saves it
    segments.write_bytes(line(0, "utf-8") + b"\n" + line(1, "gb18030") + b"\n")
    out = tmp_path / "t.jsonl"
    result = runner.invoke(app, ["preannotate", str(segments), "-m", str(ontonotes_pipeline), "-o", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "[E010]" in result.output and "segments.jsonl:2:" in result.output, result.output

    corrected = tmp_path / "corrected.jsonl"
    record = json.dumps({"text": "XX", "label": [], "meta": {"segment_id": "a-000-00"}}, ensure_ascii=False)
    corrected.write_bytes(b"\n\n" + record.encode().replace(b"XX", "北京".encode("gb18030")) + b"\n")
    splits = tmp_path / "splits.json"
    srsly.write_json(splits, {"articles": {"a": "train"}})
    args = ["convert", str(corrected), "--out", str(tmp_path / "c"), "--splits", str(splits), "-m", "no_such_model"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "[E010]" in result.output and "corrected.jsonl:3:" in result.output, result.output


def test_convert_and_evaluate_inputs_with_names_that_are_not_utf8(tmp_path: Path, ontonotes_pipeline) -> None:
    folder = os.fsencode(tmp_path / "corrected")
    os.mkdir(folder)
    record = {"text": "北京开会", "label": [[0, 2, "GPE"]], "meta": {"segment_id": "a-000-00"}}
    with open(folder + b"/\xff.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    splits = tmp_path / "splits.json"
    srsly.write_json(splits, {"articles": {"a": "test"}})
    out = tmp_path / "corpus"
    done = run_zhner("convert", folder, "--out", out, "--splits", splits, "--model", ontonotes_pipeline)
    assert done.returncode == 0 and "Traceback" not in said(done), said(done)
    docs = list(DocBin().from_disk(out / "test.spacy").get_docs(spacy.blank("zh").vocab))
    assert docs[0].user_data["source"].endswith("\\xff.jsonl:1")
    data = os.fsencode(tmp_path) + b"/\xfe.spacy"
    shutil.copy(out / "test.spacy", data)
    done = run_zhner("evaluate", ontonotes_pipeline, data, "--out", tmp_path / "reports")
    assert done.returncode == 0 and "Traceback" not in said(done), said(done)
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    assert report["data"].endswith("\\xfe.spacy")


# --- 10. what the local side lets through -----------------------------------------------------


@pytest.mark.parametrize(
    ("records", "args", "expected"),
    [
        ([_segment("a-000-00", "北京"), _segment("a-001-00", "   ")], [], r"segments\.jsonl:2: segment a-001-00: .*empty"),
        ([_segment("a-000-00", "")], [], r"segments\.jsonl:1: segment a-000-00: .*empty"),
        ([_segment("a-000-00", "北京"), _segment("a-000-00", "上海")], [], r":2: segment a-000-00: .*repeated.*line 1"),
        ([_segment("a-000-00", "北京" * 6)], ["--max-chars", "10"], r":1: segment a-000-00: .*12 characters.*10"),
        ([_segment("a-000-00", "京" * 10_001)], [], r":1: segment a-000-00: .*10001 characters.*max_segment_chars"),
    ],
    ids=["blank", "empty", "repeated-id", "over-max-chars", "over-doccano-yml-limit"],
)
def test_preannotate_refuses_what_push_would_refuse_before_loading_a_model(tmp_path: Path, records, args, expected):
    segments = tmp_path / "segments.jsonl"
    srsly.write_jsonl(segments, records)
    out = tmp_path / "tasks.jsonl"
    # no such model: the segments are checked first, so this is never reached
    result = runner.invoke(app, ["preannotate", str(segments), "-m", "zh_no_such_model", "-o", str(out), *args])
    assert result.exit_code == 1 and "[E210]" in result.output, result.output
    assert re.search(expected, result.output), result.output
    assert not out.exists()


def test_a_longer_limit_lets_a_long_segment_through(tmp_path: Path, ontonotes_pipeline) -> None:
    segments = tmp_path / "segments.jsonl"
    srsly.write_jsonl(segments, [_segment("a-000-00", "北京" * 6)])
    summary = preannotate(segments=segments, model=str(ontonotes_pipeline), out=tmp_path / "t.jsonl", max_chars=12)
    assert summary.tasks == 1


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("[nlp]", "[nlp", "no section headers"),  # confection: its message starts with blank lines
        ("[components]", "[nlp]\n\n[components]", "nlp"),  # configparser.DuplicateSectionError: not a ValueError
    ],
    ids=["unclosed-section", "repeated-section"],
)
def test_a_broken_pipeline_config_is_reported_with_a_reason(tmp_path: Path, ontonotes_pipeline, old, new, says):
    from zhner.evaluate import load_pipeline

    broken = tmp_path / "broken"
    shutil.copytree(ontonotes_pipeline, broken)
    config = broken / "config.cfg"
    config.write_text(config.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    for load in (lambda: preannotate(segments=write_segments(tmp_path / "s.jsonl", TEXTS), model=str(broken),
                                     out=tmp_path / "t.jsonl"),
                 lambda: load_pipeline(str(broken))):
        with pytest.raises(ZhnerError) as err:
            load()
        message = str(err.value)
        assert err.value.code == "E205" and "()" not in message, message
        assert "config.cfg" in message and says in message, message


def test_evaluate_refuses_an_out_that_is_a_file_before_evaluating(tmp_path: Path, ontonotes_pipeline) -> None:
    data = gold_docbin(tmp_path / "gold.spacy", [("s1", "北京开会", [(0, 2, "GPE")])])
    out = tmp_path / "report.md"
    out.write_text("my notes\n", encoding="utf-8")
    # no such model: the output is checked first, so loading it is never tried
    result = runner.invoke(app, ["evaluate", "zh_no_such_model", str(data), "--out", str(out)])
    assert result.exit_code == 1 and "[E001]" in result.output and "--force" in result.output, result.output
    assert out.read_text(encoding="utf-8") == "my notes\n"
    result = runner.invoke(app, ["evaluate", str(ontonotes_pipeline), str(data), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# NER evaluation")


def test_a_symlink_loop_given_as_input_is_called_one(tmp_path: Path, ontonotes_pipeline) -> None:
    loop = tmp_path / "loop.txt"
    loop.symlink_to(tmp_path / "loop2.txt")
    (tmp_path / "loop2.txt").symlink_to(loop)
    splits = tmp_path / "splits.json"
    srsly.write_json(splits, {"articles": {"a": "train"}})
    commands = [
        ["ingest", str(loop), "--out", str(tmp_path / "c1")],
        ["preannotate", str(loop), "-m", str(ontonotes_pipeline), "-o", str(tmp_path / "t.jsonl")],
        ["convert", str(loop), "--out", str(tmp_path / "c2"), "--splits", str(splits)],
        ["evaluate", str(ontonotes_pipeline), str(loop), "--out", str(tmp_path / "r")],
    ]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (command, result.exception)
        assert "[E007]" in result.output and "symbolic link loop" in result.output, (command, result.output)
        assert "not found" not in result.output


def test_ingest_with_no_article_left_fails_in_red(tmp_path: Path) -> None:
    english = tmp_path / "english.txt"
    english.write_text(ENGLISH, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(english), "--out", str(tmp_path / "corpus")])
    assert result.exit_code == 1
    assert "✔" not in result.output and "✘" in result.output and "[E108]" in result.output, result.output
    assert "rejected.json" in result.output
