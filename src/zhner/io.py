"""File I/O that never loses user data: atomic writes, refuse-or-force, locked output folders,
validated JSONL reads, and reads of user inputs that cannot hang or exhaust memory."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TypeVar

import srsly
from pydantic import BaseModel, ValidationError

from zhner.errors import ZhnerError, fail, printable
from zhner.schemas import Splits

STAGING_PREFIX = ".zhner-staging-"

M = TypeVar("M", bound=BaseModel)


def check_writable(path: Path, force: bool) -> None:
    """Refuse to replace an existing output unless `force` is set."""
    if path.exists() and not force:
        raise fail("E001", path=path)


def check_outputs(force: bool, *paths: Path | None) -> None:
    """`check_writable` for each output path given (None: an output not asked for), before any work."""
    for path in paths:
        if path:
            check_writable(path, force)


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


@contextmanager
def output_dir(out: Path, names: Sequence[str], *, force: bool) -> Iterator[Path]:
    """Give one run the folder `out` for its outputs `names`, and swap them in together.

    The folder is locked (flock) from the refuse-or-force check to the end, so a second run
    into it fails at once (E006) instead of replacing some of the first run's files. The
    caller writes into the staging folder yielded (inside `out`, on the same file system);
    when the block ends without an error its files replace those of `out` one rename each,
    under the lock, and an output of `names` that this run did not write is removed (it
    belongs to an older run). On an error nothing in `out` changes, and a folder this run
    created is removed again.
    """
    out = Path(out)
    created = not out.is_dir()
    _make_dir(out, force)
    with locked_folder(out):
        try:
            for name in names:
                check_writable(out / name, force)
            for stale in out.glob(f"{STAGING_PREFIX}*"):  # left by a killed run: no other run holds the lock
                shutil.rmtree(stale, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
            try:
                yield staging
                for name in names:
                    if (staging / name).exists():
                        os.replace(staging / name, out / name)
                    else:
                        (out / name).unlink(missing_ok=True)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            if created:  # still under the lock: a run waiting for the folder sees it go (E006)
                with suppress(OSError):
                    out.rmdir()
            raise


def _make_dir(out: Path, force: bool) -> None:
    """Create the output folder; an existing file of that name is refused, or removed with `force`."""
    if out.exists() and not out.is_dir():
        check_writable(out, force)
        out.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise fail("E011", path=out, action="create the output folder", reason=err.strerror) from None


@contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on the folder itself (no lock file left behind); E006 if another run has it.

    The kernel drops the lock when the process ends, however it ends: a killed run leaves none."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:  # removed by a run that failed in it just now
        raise fail("E006", path=folder) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise fail("E006", path=folder) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(folder))
        except FileNotFoundError:
            same = False
        if not same:  # the folder was removed or replaced between the open and the lock
            raise fail("E006", path=folder)
        if not os.access(folder, os.W_OK):
            raise fail("E011", path=folder, action="write outputs here", reason="no write permission")
        yield
    finally:
        os.close(fd)  # releases the lock


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


def unreadable(path: Path, err: OSError | None = None) -> ZhnerError:
    """The error for an input that cannot be read, saying why: missing, link loop, broken link, not a file."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as stat_err:
        if stat_err.errno == errno.ELOOP:
            return fail("E007", path=path, reason=stat_err.strerror)
        if path.is_symlink():
            return fail("E008", path=path, target=os.readlink(path))
        if stat_err.errno not in (errno.ENOENT, errno.ENOTDIR):
            return fail("E011", path=path, action="read it", reason=stat_err.strerror)
        return fail("E004", path=path)
    if not stat.S_ISREG(st.st_mode):
        return _not_regular(path, st)
    return fail("E011", path=path, action="read it", reason=err.strerror if err else "unknown error")


def file_safe(name: str) -> str:
    """A name (a project's) as part of a file name: letters (any script), digits, '.', '-', '_' kept, the
    rest '_', so a '/' can never write into another folder."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "project"


REJECTED_SUFFIX = ".rejected.jsonl"  # what `zhner doccano pull` refused, beside each pull: not records


def corrected_files(inputs: Iterable[Path]) -> list[Path]:
    """The JSONL files given, folders searched for *.jsonl in a stable order; the `.rejected.jsonl`
    lists beside pulls are left out, so a folder of pulls reads as the corrections it holds."""
    files: list[Path] = []
    for path in map(Path, inputs):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.jsonl") if p.is_file() and not p.name.endswith(REJECTED_SUFFIX))
        elif path.exists():
            files.append(path)
        else:
            raise unreadable(path)
    return files


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of a UTF-8 file with their numbers; a line that is not UTF-8 raises E010 (file and line).

    Decoding line by line (not the whole file through a text stream) is what lets the error
    say where the bad byte is.
    """
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as err:
        raise unreadable(path, err) from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            yield lineno, decode_line(path, lineno, raw)


def decode_line(path: Path | str, lineno: int, raw: bytes) -> str:
    """One line's bytes as text; E010 names the file, the line and the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        reason = f"byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line: {err.reason}"
        raise fail("E010", path=path, line=lineno, reason=reason) from None


def read_jsonl_lines(path: Path, model: type[M]) -> Iterator[tuple[int, M]]:
    """Yield (line number, validated record); a bad line raises an error naming the file, line and reason."""
    for lineno, line in read_lines(path):
        if line.strip():
            yield lineno, parse_jsonl_line(path, lineno, line, model)


def parse_jsonl_line(path: Path | str, lineno: int, line: str, model: type[M]) -> M:
    """One JSONL line as a validated record; E002 (not JSON) or E003 (invalid record) name file and line."""
    try:
        data = srsly.json_loads(line)
    except ValueError as err:
        raise fail("E002", path=path, line=lineno, reason=err) from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in err.errors()
        )
        raise fail("E003", path=path, line=lineno, reason=reason) from None


def read_jsonl(path: Path, model: type[M]) -> Iterator[M]:
    """Yield validated records; a bad line raises an error naming the file, line and reason."""
    for _, record in read_jsonl_lines(path, model):
        yield record


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path`, read only if it has at most `limit` bytes.

    Anything else is refused before it is read: a named pipe would block the reader for
    ever, a device such as /dev/zero never ends (its size says 0, so a size check alone
    passes it). The read itself is bounded too, for files whose size lies (/proc).
    """
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st)
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        raise unreadable(path, err) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st)
        if st.st_size > limit:
            raise fail("E107", path=path, size=st.st_size, limit=limit)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise fail("E107", path=path, size=f"more than {limit}", limit=limit)
    return data


_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "named pipe (FIFO)",
    stat.S_IFSOCK: "socket",
}


def _not_regular(path: Path, st: os.stat_result) -> ZhnerError:
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "special file")
    if path.is_symlink():
        kind += f" (the link points to {printable(os.path.realpath(path))})"
    return fail("E009", path=path, kind=kind)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_splits(path: Path) -> Splits:
    """corpus/splits.json, validated (E412 names what is wrong); the one reader of it."""
    path = Path(path)
    if not path.exists():
        raise unreadable(path)
    try:
        return Splits.model_validate(srsly.read_json(path))
    except ValidationError as err:
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise fail("E412", path=path, reason=reason) from None
    except ValueError as err:
        raise fail("E412", path=path, reason=f"{type(err).__name__}: {err}") from None


def write_splits(path: Path, splits: Splits) -> None:
    """corpus/splits.json as `zhner ingest` writes it; the one writer of it."""
    write_json(path, splits.model_dump())
