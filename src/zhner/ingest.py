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
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
from pydantic import Field

from zhner.clean import CleanConfig, cjk_ratio, clean_page, normalize_line
from zhner.config import Strict, config_path, load_model
from zhner.dedupe import DedupeConfig, DuplicateGroup, find_duplicate_groups
from zhner.errors import ZhnerError, fail
from zhner.io import check_writable, write_json, write_jsonl
from zhner.schemas import Article, Segment
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
    splits: dict
    rejected: list[Rejected] = field(default_factory=list)
    out_dir: Path | None = None


def discover(inputs: Iterable[Path]) -> list[Path]:
    """Input files in a stable order: files as given, directories walked (hidden entries skipped)."""
    found: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_file():
            found.append(item)
        elif item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
        else:
            raise fail("E004", path=item)
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
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise fail("E004", path=path) from None
    if size > limits.max_file_bytes:
        raise fail("E107", path=path, size=size, limit=limits.max_file_bytes)
    data = path.read_bytes()
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
        file=path.name,
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

    A bad file is recorded in `rejected` (and `rejected.json`) and the others go on.
    """
    cfg = config or load_ingest_config()
    if out_dir is not None:
        for name in OUTPUTS:
            check_writable(Path(out_dir) / name, force)
    files = discover(inputs)
    articles: list[Article] = []
    rejected: list[Rejected] = []
    for path in files:
        try:
            articles.append(build_article(path, cfg))
        except ZhnerError as err:
            rejected.append(Rejected(file=str(path), code=err.code, reason=err.message))
        except OSError as err:
            rejected.append(Rejected(file=str(path), code="E004", reason=f"{path}: cannot read ({err.strerror})"))
        if on_file:
            on_file(path)
    groups = find_duplicate_groups(articles, cfg.dedupe)
    dropped = {i for g in groups for i in g.members if i != g.canonical}
    canonical = [a for i, a in enumerate(articles) if i not in dropped]
    segments = [s for a in canonical for s in segment_article(a, cfg.segment.max_chars)]
    splits = assign_splits(canonical, groups, cfg.split, pin_test=[*cfg.split.pin_test, *pin_test])
    result = IngestResult(len(files), canonical, segments, groups, splits, rejected, out_dir)
    if out_dir is not None:
        write_corpus(result, Path(out_dir))
    return result


def write_corpus(result: IngestResult, out_dir: Path) -> None:
    write_jsonl(out_dir / "articles.jsonl", result.articles)
    write_jsonl(out_dir / "segments.jsonl", result.segments)
    write_json(out_dir / "duplicates.json", [g.to_json() for g in result.groups])
    write_json(out_dir / "splits.json", result.splits)
    write_json(out_dir / "rejected.json", [r.__dict__ for r in result.rejected])
