"""The plan of an apply run: the inputs cut into shards, and the output folder that says which
shards are complete.

A shard is `shard_size` consecutive non-blank lines of one input file, identified by its index
(over all inputs, in order), its line range and the sha256 of its bytes. Its output is
`shards/NNNNNN.jsonl` and a marker `shards/NNNNNN.done.json` written after it, holding the
output's sha256: a shard is complete when its marker exists, names the same input bytes, and the
output still has that checksum. Anything else is redone. `manifest.json` holds the job (model
and its fingerprint, options) that every shard of the folder was made by.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import srsly

from zhner.errors import fail, printable
from zhner.io import sha256_file, unreadable, write_json

FORMAT = "zhner-apply/1"
MANIFEST = "manifest.json"
SHARDS = "shards"
TEXT_SUFFIXES = (".txt",)  # one document per line; every other file is read as JSONL
INPUT_GLOBS = ("*.jsonl", "*.txt")


@dataclass(frozen=True)
class Shard:
    """A range of lines of one input file; `sha256` is that of its bytes."""

    index: int
    path: str
    first_line: int
    last_line: int
    start: int
    end: int
    records: int
    sha256: str

    @property
    def name(self) -> str:
        return f"{self.index:06d}"

    @property
    def kind(self) -> str:
        return "text" if Path(self.path).suffix.lower() in TEXT_SUFFIXES else "jsonl"


@dataclass(frozen=True)
class ShardInput:
    """What a worker gets: a shard's bytes, with where they came from for error messages."""

    index: int
    path: str
    kind: str
    first_line: int
    data: bytes
    name: str = ""  # what a text file's lines are called in their ids (NAME:LINE); see document_names


@dataclass(frozen=True)
class Job:
    """What makes two runs the same job: the pipeline (by content) and the options that change output."""

    model: str
    model_version: str
    model_sha256: str
    labels_sha256: str
    mapping: str
    scores: bool
    shard_size: int

    def differences(self, other: dict) -> list[str]:
        """Each field of `other` (a manifest's job) that differs, as `field: here / there`."""
        mine = asdict(self)
        return [f"{k}: {mine[k]!r} here, {other.get(k)!r} there" for k in mine if other.get(k) != mine[k]]


def input_files(paths: Iterable[Path]) -> list[Path]:
    """The files to read: each file as given, each folder's *.jsonl and *.txt (recursively, sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted({p for pattern in INPUT_GLOBS for p in path.rglob(pattern) if p.is_file()})
            if not found:
                raise fail("E106", path=path)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise unreadable(path)
    return files


def plan(files: Iterable[Path], shard_size: int) -> list[Shard]:
    """Cut the files into shards of `shard_size` non-blank lines, hashing each shard's bytes."""
    shards: list[Shard] = []
    for path in files:
        shards.extend(_scan(Path(path), shard_size, len(shards)))
    return shards


def _scan(path: Path, shard_size: int, first_index: int) -> Iterator[Shard]:
    """One pass over a file in binary (a bad byte is the worker's to report, with its line)."""
    resolved = str(path.resolve())
    try:
        f = path.open("rb")
    except OSError as err:
        raise unreadable(path, err) from None
    index, lineno, pos = first_index, 0, 0
    start, first, records, digest = 0, 1, 0, hashlib.sha256()
    with f:
        for raw in f:
            lineno += 1
            pos += len(raw)
            digest.update(raw)
            records += bool(raw.strip())
            if records == shard_size:
                yield Shard(index, resolved, first, lineno, start, pos, records, digest.hexdigest())
                index, start, first, records, digest = index + 1, pos, lineno + 1, 0, hashlib.sha256()
    if records:  # blank lines after the last record belong to no shard
        yield Shard(index, resolved, first, lineno, start, pos, records, digest.hexdigest())


def document_names(files: Iterable[Path]) -> dict[str, str]:
    """Each input's name in the ids of its lines: its base name, or, when two inputs share one
    (2024-01/news.txt, 2024-02/news.txt), its path below their common folder, so that ids never collide."""
    resolved = [str(Path(f).resolve()) for f in files]
    names = {p: os.path.basename(p) for p in resolved}
    if len(set(names.values())) < len(names):
        root = os.path.commonpath([os.path.dirname(p) for p in resolved])
        names = {p: os.path.relpath(p, root) for p in resolved}
    return names


def shard_inputs(shards: Iterable[Shard], names: dict[str, str] | None = None) -> Iterator[ShardInput]:
    """Each shard's bytes, read when a worker is ready for it (the archive never sits in memory)."""
    names = names or {}
    for shard in shards:
        with open(shard.path, "rb") as f:
            f.seek(shard.start)
            data = f.read(shard.end - shard.start)
        if hashlib.sha256(data).hexdigest() != shard.sha256:
            raise fail("E011", path=shard.path, action=f"read lines {shard.first_line}-{shard.last_line}",
                       reason="the file changed during the run")
        yield ShardInput(shard.index, printable(shard.path), shard.kind, shard.first_line, data,
                         names.get(shard.path) or os.path.basename(shard.path))


# -- the output folder ------------------------------------------------------------------------------


def output_path(out: Path, shard: Shard | int) -> Path:
    name = shard.name if isinstance(shard, Shard) else f"{shard:06d}"
    return Path(out) / SHARDS / f"{name}.jsonl"


def marker_path(out: Path, shard: Shard | int) -> Path:
    return output_path(out, shard).with_suffix(".done.json")


def complete(out: Path, shard: Shard) -> dict | None:
    """The shard's marker when its output is complete: same input bytes, output checksum intact."""
    marker, output = marker_path(out, shard), output_path(out, shard)
    try:
        done = srsly.read_json(marker)
    except (OSError, ValueError):
        return None
    same_input = isinstance(done, dict) and all(
        done.get(k) == getattr(shard, k) for k in ("path", "first_line", "last_line", "sha256")
    )
    if not same_input or not output.is_file():
        return None
    return done if sha256_file(output) == done.get("output_sha256") else None


def check_folder(out: Path, job: Job, *, force: bool) -> None:
    """Refuse a folder another job wrote (E501) or that is no apply output (E502); --force starts over."""
    manifest = Path(out) / MANIFEST
    if manifest.is_file():
        try:
            data = srsly.read_json(manifest)
        except ValueError as err:
            raise fail("E502", path=out, reason=f"{MANIFEST} is not JSON: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise fail("E502", path=out, reason=f"{MANIFEST} is not of format {FORMAT}")
        differences = job.differences(data.get("job") or {})
        if differences and not force:
            raise fail("E501", path=out, reason="; ".join(differences))
        if force:
            clear_shards(out, keep=0)
        return
    others = sorted(p.name for p in Path(out).iterdir() if p.name != SHARDS)
    if others:
        raise fail("E502", path=out, reason=f"it holds {others[0]!r} and no {MANIFEST}")


def clear_shards(out: Path, keep: int) -> int:
    """Remove the outputs and markers of shards numbered `keep` and above, and stale temporary files."""
    folder = Path(out) / SHARDS
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if path.name.startswith(".") and path.name.endswith(".part"):  # left by a killed run
            path.unlink(missing_ok=True)
            continue
        stem = path.name.split(".", 1)[0]
        if stem.isdigit() and int(stem) >= keep:
            removed += path.suffix == ".jsonl"
            path.unlink(missing_ok=True)
    return removed


def write_manifest(out: Path, job: Job, shards: list[Shard], done: dict[int, dict], **state: object) -> None:
    """manifest.json: the job, the plan of every shard with the checksum of each output `done`
    holds (index → marker), and `state` (counts, complete or not)."""
    rows = []
    for shard in shards:
        row = {"index": shard.index, "input": shard.path, "lines": [shard.first_line, shard.last_line],
               "records": shard.records, "input_sha256": shard.sha256}
        if shard.index in done:
            row["output_sha256"] = done[shard.index]["output_sha256"]
            row["entities"] = done[shard.index]["entities"]
        rows.append(row)
    write_json(Path(out) / MANIFEST, {"format": FORMAT, "job": asdict(job), **state, "shards": rows})


def model_fingerprint(path: str | os.PathLike | None) -> str:
    """sha256 over a pipeline folder's files (names and contents); '' for a pipeline built in code."""
    if path is None or not Path(path).is_dir():
        return ""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(root).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()
