"""Train a pkuseg word segmenter with `spacy_pkuseg.train`, cached by a hash of its input."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from zhner.errors import fail
from zhner.io import atomic_open, write_json

STAMP = "zhner_pkuseg.json"
MODEL_FILES = ("features.msgpack", "weights.npz")

# pkuseg's trainer keeps its settings in a module-level singleton and prints as it goes:
# running it in a child process keeps both out of the caller. It shuffles with the unseeded
# `random` module (and may draw weights from numpy's), so both are seeded first: same lines,
# same model.
_TRAIN = (
    "import random, sys, numpy, spacy_pkuseg\n"
    "random.seed(int(sys.argv[5])); numpy.random.seed(int(sys.argv[5]))\n"
    "spacy_pkuseg.train(sys.argv[1], sys.argv[2], sys.argv[3], train_iter=int(sys.argv[4]))\n"
)
_ITER = re.compile(r"iter(\d+)\s.*?f-score=([\d.]+)%")


def train_pkuseg(
    lines: Iterable[str],
    out_dir: Path,
    *,
    iterations: int,
    seed: int = 0,
    test_lines: Iterable[str] | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
) -> Path:
    """Train a pkuseg model on space-separated words; returns `out_dir` (loadable by spacy_pkuseg).

    A second call with the same lines and iterations returns at once. `test_lines`
    (default: every 20th training line) are scored after each iteration.
    """
    out_dir = Path(out_dir)
    train = [ln.strip() for ln in lines if ln.strip()]
    test = [ln.strip() for ln in test_lines if ln.strip()] if test_lines is not None else train[::20] or train
    if not train:
        raise fail("E204", reason="no training lines", path=out_dir)
    key = input_hash(train, test, iterations, seed)
    stamp = _read_stamp(out_dir)
    if stamp.get("input_sha256") == key and all((out_dir / f).exists() for f in MODEL_FILES):
        return out_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    scores = _run_trainer(train, test, out_dir, iterations, seed, on_iteration)
    write_json(
        out_dir / STAMP,
        {"input_sha256": key, "iterations": iterations, "seed": seed, "train_lines": len(train), "test_lines": len(test),
         "test_f1_per_iteration": scores},
    )
    return out_dir


def model_info(model_dir: Path) -> dict:
    """What the cache stamp says about a trained model (empty when it was not trained here)."""
    return _read_stamp(Path(model_dir))


def input_hash(train: list[str], test: list[str], iterations: int, seed: int = 0) -> str:
    h = hashlib.sha256(f"pkuseg-v2 iterations={iterations} seed={seed}\n".encode())
    for part in (train, ["\x00"], test):
        for line in part:
            h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def _read_stamp(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run_trainer(
    train: list[str], test: list[str], out_dir: Path, iterations: int, seed: int,
    on_iteration: Callable[[int, float], None] | None,
) -> list[float]:
    log_path = out_dir / "train.log"
    scores: list[float] = []
    with tempfile.TemporaryDirectory(prefix="zhner-pkuseg-") as tmp:
        train_file, test_file = Path(tmp) / "train.txt", Path(tmp) / "test.txt"
        for path, part in ((train_file, train), (test_file, test)):
            with atomic_open(path) as f:
                f.write("\n".join(part) + "\n")
        cmd = [sys.executable, "-u", "-c", _TRAIN, str(train_file), str(test_file), str(out_dir), str(iterations), str(seed)]
        with log_path.open("w", encoding="utf-8") as log:
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", cwd=tmp
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    if m := _ITER.search(line):
                        scores.append(float(m.group(2)))
                        if on_iteration:
                            on_iteration(int(m.group(1)), float(m.group(2)))
                code = proc.wait()
    if code != 0 or not all((out_dir / f).exists() for f in MODEL_FILES):
        tail = log_path.read_text(encoding="utf-8").strip().splitlines()[-1:] or ["no output"]
        raise fail("E204", reason=f"exit code {code}: {tail[0]}", path=log_path)
    return scores
