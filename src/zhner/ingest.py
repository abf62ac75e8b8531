"""Ingest: raw news files → clean articles, annotation segments, duplicate groups and splits.

Every span offset in the project points into the article bodies written here, so the
output is deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
from pydantic import Field

from zhner.clean import CleanConfig, cjk_ratio, clean_page, normalize_line
from zhner.config import Strict, config_path, load_model
from zhner.dedupe import DedupeConfig, DuplicateGroup, find_duplicate_groups
from zhner.errors import ZhnerError, fail, printable
from zhner.io import output_dir, read_regular_file, unreadable, write_json, write_jsonl, write_splits
from zhner.schemas import Article, Segment, Splits
from zhner.split import SplitConfig, assign_splits

OUTPUTS = ("articles.jsonl", "segments.jsonl", "duplicates.json", "splits.json", "rejected.json")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LEGACY_ENCODINGS = ["gb18030", "big5"]
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")
# A sentence: text up to 。！？ (or a run of them), with any closing quotes or brackets after it.
_SENTENCE = re.compile(r"[^。！？!?]*(?:[。！？!?]+[”’」』）)]*|$)")


class Limits(Strict):
    max_file_bytes: int = Field(10_000_000, gt=0)
    min_cjk_ratio: float = Field(0.3, ge=0, le=1)
    max_control_ratio: float = Field(0.01, ge=0, le=1)


class SegmentConfig(Strict):
    max_chars: int = Field(300, ge=20)


class IngestConfig(Strict):
    """configs/ingest.yml."""

    limits: Limits = Limits()
    clean: CleanConfig
    segment: SegmentConfig = SegmentConfig()
    dedupe: DedupeConfig = DedupeConfig()
    split: SplitConfig = SplitConfig()


def load_ingest_config(path: Path | None = None) -> IngestConfig:
    return load_model(path or config_path("ingest.yml"), IngestConfig)


@dataclass
class Rejected:
    file: str
    code: str
    reason: str


@dataclass
class IngestResult:
    """What a run produced; the CLI prints it."""

    files: int
    articles: list[Article]
    segments: list[Segment]
    groups: list[DuplicateGroup]
    splits: Splits
    rejected: list[Rejected] = field(default_factory=list)
    out_dir: Path | None = None


def discover(inputs: Iterable[Path]) -> list[Path]:
    """Input files in a stable order: files as given, directories walked (hidden entries skipped).

    Whatever is not a directory is listed, FIFOs and devices too: reading refuses them, so they
    end up in rejected.json with the other bad inputs.
    """
    found: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
        elif item.exists():
            found.append(item)
        else:
            raise unreadable(item)
    if not found:
        raise fail("E106", path=", ".join(str(p) for p in inputs))
    return found


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a news file: BOM, then strict UTF-8, then the likelier of GB18030 and Big5."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as err:
                raise fail("E103", path=path, reason=f"{encoding} BOM but {err.reason} at byte {err.start}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        # GB18030 decodes almost any byte pair, Big5 bytes included; charset-normalizer
        # picks the candidate whose text reads as Chinese.
        best = charset_normalizer.from_bytes(data, cp_isolation=_LEGACY_ENCODINGS).best()
        if best is None:
            reason = f"invalid UTF-8 at byte {utf8_error.start}, and not GB18030 or Big5 either"
            raise fail("E103", path=path, reason=reason) from None
        encoding = "gb18030" if best.encoding in ("gb18030", "gbk", "gb2312") else best.encoding
        return data.decode(encoding), encoding


def read_document(path: Path, limits: Limits) -> tuple[str, str, str]:
    """Read, check and decode one input file: returns (text, encoding, sha256 of the bytes)."""
    data = read_regular_file(path, limits.max_file_bytes)  # never a FIFO or a device, never past the limit
    if not data.strip():
        raise fail("E101", path=path)
    if b"\x00" in data[:65536] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise fail("E102", path=path, reason="it contains NUL bytes")
    text, encoding = decode(data, path)
    if not normalize_line(text):
        raise fail("E101", path=path)
    controls = len(_CONTROL.findall(text))
    if controls > limits.max_control_ratio * len(text):
        raise fail("E102", path=path, reason=f"{controls} control characters in {len(text)}")
    ratio = cjk_ratio(text)
    if ratio < limits.min_cjk_ratio:
        raise fail("E104", path=path, reason=f"{ratio:.0%} of its letters are Chinese characters")
    return text, encoding, hashlib.sha256(data).hexdigest()


def build_article(path: Path, cfg: IngestConfig) -> Article:
    text, encoding, sha = read_document(path, cfg.limits)
    page = clean_page(text, cfg.clean)
    body = page.body
    if not body:
        raise fail("E105", path=path)
    return Article(
        id=hashlib.sha256(body.encode("utf-8")).hexdigest()[:16],
        title=page.title,
        date=page.date,
        source=page.source,
        body=body,
        original=page.original,
        script=page.script,
        encoding=encoding,
        file=printable(path.name),  # a name that is not UTF-8 as \xff escapes: JSON cannot hold it otherwise
        sha256=sha,
    )


def _pieces(text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut `text` into pieces of at most `max_chars`, preferring sentence ends, then ；，, then anywhere."""
    if len(text) <= max_chars:
        yield 0, len(text)
        return
    bounds = [m.end() for m in _SENTENCE.finditer(text) if m.end() > m.start()]
    start = last = 0
    for end in bounds:
        if end - start > max_chars and last > start:
            yield start, last
            start = last
        last = end
        while end - start > max_chars:  # one sentence longer than the limit
            cut = _clause_cut(text, start, start + max_chars)
            yield start, cut
            start = cut
    if start < len(text):
        yield start, len(text)


def _clause_cut(text: str, start: int, limit: int) -> int:
    """The last clause end (；or ，) in text[start:limit], or `limit` when there is none."""
    for marks in ("；;", "，,、"):
        cut = max(text.rfind(m, start, limit) for m in marks)
        if cut > start:
            return cut + 1
    return limit


def segment_article(article: Article, max_chars: int) -> list[Segment]:
    """One segment per paragraph, long paragraphs cut at sentence ends; offsets into the body."""
    segments: list[Segment] = []
    offset = 0
    for index, paragraph in enumerate(article.body.split("\n")):
        for part, (s, e) in enumerate(_pieces(paragraph, max_chars)):
            segments.append(
                Segment(
                    id=f"{article.id}-{index:03d}-{part:02d}",
                    article_id=article.id,
                    paragraph=index,
                    part=part,
                    start=offset + s,
                    end=offset + e,
                    text=paragraph[s:e],
                )
            )
        offset += len(paragraph) + 1
    return segments


def ingest(
    inputs: Iterable[Path],
    out_dir: Path | None = None,
    *,
    config: IngestConfig | None = None,
    pin_test: Iterable[str] = (),
    force: bool = False,
    on_file: Callable[[Path], None] | None = None,
) -> IngestResult:
    """Run the whole ingest step; write the corpus files to `out_dir` when given.

    A bad file is recorded in `rejected` (and `rejected.json`) and the others go on. The
    output folder is held for the whole run and its five files are swapped in together, so
    a concurrent run into it fails (E006) rather than leaving a corpus of two runs.
    """
    cfg = config or load_ingest_config()
    with output_dir(out_dir, OUTPUTS, force=force) if out_dir is not None else nullcontext() as staging:
        result = _ingest(discover(inputs), cfg, [*cfg.split.pin_test, *pin_test], on_file)
        result.out_dir = out_dir
        if staging is not None:
            write_corpus(result, staging)
    return result


def _ingest(
    files: list[Path], cfg: IngestConfig, pin_test: list[str], on_file: Callable[[Path], None] | None
) -> IngestResult:
    articles: list[Article] = []
    rejected: list[Rejected] = []
    for path in files:
        try:
            articles.append(build_article(path, cfg))
        except ZhnerError as err:
            rejected.append(Rejected(file=printable(path), code=err.code, reason=err.message))
        except OSError as err:
            bad = unreadable(path, err)
            rejected.append(Rejected(file=printable(path), code=bad.code, reason=bad.message))
        if on_file:
            on_file(path)
    groups = find_duplicate_groups(articles, cfg.dedupe)
    dropped = {i for g in groups for i in g.members if i != g.canonical}
    canonical = [a for i, a in enumerate(articles) if i not in dropped]
    segments = [s for a in canonical for s in segment_article(a, cfg.segment.max_chars)]
    # article.file holds printable names: a pin given as a name that is not UTF-8 must match it
    splits = assign_splits(canonical, groups, cfg.split, pin_test=[printable(p) for p in pin_test])
    return IngestResult(len(files), canonical, segments, groups, splits, rejected)


def write_corpus(result: IngestResult, out_dir: Path) -> None:
    write_jsonl(out_dir / "articles.jsonl", result.articles)
    write_jsonl(out_dir / "segments.jsonl", result.segments)
    write_json(out_dir / "duplicates.json", [g.to_json() for g in result.groups])
    write_splits(out_dir / "splits.json", result.splits)
    write_json(out_dir / "rejected.json", [r.__dict__ for r in result.rejected])
