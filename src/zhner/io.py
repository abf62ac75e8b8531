"""File I/O that never loses user data: atomic writes, refuse-or-force, validated JSONL reads."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import srsly
from pydantic import BaseModel, ValidationError

from zhner.errors import fail

M = TypeVar("M", bound=BaseModel)


def check_writable(path: Path, force: bool) -> None:
    """Refuse to replace an existing output unless `force` is set."""
    if path.exists() and not force:
        raise fail("E001", path=path)


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside `path` and rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=None if "b" in mode else "\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: Path, data: object) -> None:
    write_text(path, srsly.json_dumps(data, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: Path, records: Iterable[BaseModel | dict]) -> int:
    """Write one compact JSON object per line (unicode kept as is); returns the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            data = rec.model_dump(mode="json", exclude_none=False) if isinstance(rec, BaseModel) else rec
            f.write(srsly.json_dumps(data) + "\n")
            n += 1
    return n


def read_jsonl(path: Path, model: type[M]) -> Iterator[M]:
    """Yield validated records; a bad line raises an error naming the file, line and reason."""
    path = Path(path)
    if not path.exists():
        raise fail("E004", path=path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                data = srsly.json_loads(line)
            except ValueError as err:
                raise fail("E002", path=path, line=lineno, reason=err) from None
            try:
                yield model.model_validate(data)
            except ValidationError as err:
                reason = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in err.errors()
                )
                raise fail("E003", path=path, line=lineno, reason=reason) from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
