"""Text cleaning for raw Chinese news pages: normalisation, pinyin glosses, script, boilerplate, header.

What changes in the text, and why (annotators see the result, so nothing else is touched):
- line ends: CRLF and CR become LF;
- Unicode NFC (Doccano's grapheme mode and spaCy both count code points);
- zero-width characters, BOMs inside the text and control characters other than tab/newline are removed;
- full-width ASCII letters and digits (Ａ, ０) become half-width; full-width punctuation is kept as written;
- in each line, runs of whitespace (including U+3000 and NBSP) become one space, and the ends are trimmed;
- a pinyin gloss after a character (數(shù) → 數) is removed;
- an article in Traditional script is converted to Simplified with OpenCC; the original is kept.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import opencc
from pydantic import Field

from zhner.config import Strict

# Full-width ASCII letters and digits only: punctuation width is the writer's choice and stays.
_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
}
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[\s\u3000\u00a0\u2000-\u200a\u202f\u205f]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]")
_SENTENCE_END = re.compile(r"[。！？!?]")
_LETTER = re.compile(r"[^\W\d_]")


class CleanConfig(Strict):
    drop_line_patterns: list[str]
    footer_start_patterns: list[str]
    footer_window: float = Field(0.4, gt=0, le=1)
    spam_words: list[str] = Field(default_factory=list)
    date_patterns: list[str]
    source_pattern: str
    max_header_line: int = 80
    header_max_lines: int = 20
    pinyin_gloss: str
    traditional_ratio: float = 0.05
    opencc_config: str = "t2s"

    @cached_property
    def compiled(self) -> "_Compiled":
        return _Compiled(self)


class _Compiled:
    """The config's regular expressions, compiled once per config."""

    def __init__(self, cfg: CleanConfig):
        # One alternation: a line is scanned once instead of once per pattern.
        self.drop = re.compile("|".join(f"(?:{p})" for p in cfg.drop_line_patterns))
        self.footer = [re.compile(p) for p in cfg.footer_start_patterns]
        self.spam = re.compile("|".join(re.escape(w) for w in cfg.spam_words), re.I) if cfg.spam_words else None
        self.dates = [re.compile(p) for p in cfg.date_patterns]
        self.source = re.compile(cfg.source_pattern)
        self.gloss = re.compile(cfg.pinyin_gloss)


@dataclass
class CleanArticle:
    """The parts of one page: header fields and body paragraphs (with their originals)."""

    title: str | None
    date: str | None
    source: str | None
    paragraphs: list[str]
    original_paragraphs: list[str]
    script: str = "simplified"
    dropped: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n".join(self.paragraphs)

    @property
    def original(self) -> str | None:
        """The body before gloss removal and script conversion, when either changed it."""
        original = "\n".join(self.original_paragraphs)
        return None if original == self.body else original


def normalize_text(text: str) -> str:
    """Whole-text normalisation that keeps characters annotators expect (see module docstring)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    return text.translate(_FULLWIDTH_ALNUM)


def normalize_line(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among the letters of `text` (0 when it has none)."""
    letters = len(_LETTER.findall(text))
    return cjk_count(text) / letters if letters else 0.0


@lru_cache(maxsize=4)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str, config: str = "t2s") -> str:
    return _converter(config).convert(text)


def traditional_share(text: str, config: str = "t2s") -> float:
    """Share of CJK characters that OpenCC changes when converting to Simplified."""
    converted = to_simplified(text, config)
    if len(converted) != len(text):  # phrase conversions changed lengths: compare by set instead
        changed = len(set(_CJK.findall(text)) - set(_CJK.findall(converted)))
        return changed / max(1, len(set(_CJK.findall(text))))
    changed = sum(map(str.__ne__, text, converted))  # only CJK characters are ever converted
    return changed / max(1, cjk_count(text))


def parse_date(line: str, cfg: CleanConfig) -> str | None:
    """The first header date in `line` as ISO 8601 (`2021-04-29T11:09:00` or `2021-12-31`)."""
    for pattern in cfg.compiled.dates:
        if m := pattern.search(line):
            g = m.groupdict()
            date = f"{int(g['y']):04d}-{int(g['m']):02d}-{int(g['d']):02d}"
            if g.get("H"):
                date += f"T{int(g['H']):02d}:{int(g['M']):02d}:{int(g.get('S') or 0):02d}"
            return date
    return None


def parse_source(line: str, cfg: CleanConfig) -> str | None:
    m = cfg.compiled.source.search(line)
    return m.group("source") if m else None


def is_boilerplate(line: str, cfg: CleanConfig) -> bool:
    c = cfg.compiled
    return bool(c.drop.search(line) or (c.spam and c.spam.search(line)))


def _is_paragraph(line: str, cfg: CleanConfig) -> bool:
    """A line that reads as running text, not a header field or a title."""
    return len(line) > cfg.max_header_line or bool(_SENTENCE_END.search(line))


def _footer_start(lines: list[str], cfg: CleanConfig) -> int:
    """Index of the first footer line within the last `footer_window` of the page (len if none)."""
    first = int(len(lines) * (1 - cfg.footer_window))
    for i in range(first, len(lines)):
        if any(p.search(lines[i]) for p in cfg.compiled.footer):
            return i
    return len(lines)


def _split_header(lines: list[str], cfg: CleanConfig) -> tuple[str | None, str | None, str | None, int]:
    """Find title, date and source in the leading lines; return them and where the body starts."""
    limit = min(len(lines), cfg.header_max_lines)
    first_para = next((i for i in range(limit) if _is_paragraph(lines[i], cfg)), limit)
    meta = [i for i in range(first_para) if parse_date(lines[i], cfg) or parse_source(lines[i], cfg)]
    date = next((d for i in meta if (d := parse_date(lines[i], cfg))), None)
    source = next((s for i in meta if (s := parse_source(lines[i], cfg))), None)
    if meta:
        # The title is the line just above the first date/source line (site breadcrumbs and
        # section names come before it); header lines after the meta are body, except
        # repeats of the title and a subtitle starting with a dash.
        t = meta[0] - 1
        title_lines = [lines[t]] if t >= 0 else []
        if t > 0 and lines[t - 1].endswith("——"):
            title_lines.insert(0, lines[t - 1])
        body_start = meta[-1] + 1
    else:
        # No header fields: the title is the first line if it is not running text, with
        # its continuation when the two are joined by a dash.
        title_lines, body_start = [], 0
        if first_para > 0:
            title_lines, body_start = [lines[0]], 1
            if body_start < first_para and (lines[0].endswith("——") or lines[1].startswith("——")):
                title_lines.append(lines[1])
                body_start = 2
    title = "".join(title_lines) or None
    while body_start < first_para and title and (lines[body_start] in title or lines[body_start].startswith("——")):
        if lines[body_start] not in title:
            title += lines[body_start]
        body_start += 1
    return title, date, source, body_start


def clean_page(text: str, cfg: CleanConfig) -> CleanArticle:
    """Turn one decoded page into header fields and clean body paragraphs."""
    originals = [line for raw in normalize_text(text).split("\n") if (line := normalize_line(raw))]
    lines = [cfg.compiled.gloss.sub("", line) for line in originals]
    script = "simplified"
    if traditional_share("".join(lines), cfg.opencc_config) > cfg.traditional_ratio:
        script = "traditional"
        lines = [to_simplified(line, cfg.opencc_config) for line in lines]
    dropped: list[str] = []
    kept: list[tuple[str, str]] = []
    for line, original in zip(lines, originals):
        if is_boilerplate(line, cfg):
            dropped.append(line)
        else:
            kept.append((line, original))
    cut = _footer_start([line for line, _ in kept], cfg)
    dropped.extend(line for line, _ in kept[cut:])
    kept = kept[:cut]
    title, date, source, body_start = _split_header([line for line, _ in kept], cfg)
    dropped.extend(line for line, _ in kept[:body_start])
    body = kept[body_start:]
    return CleanArticle(
        title=title,
        date=date,
        source=source,
        paragraphs=[line for line, _ in body],
        original_paragraphs=[original for _, original in body],
        script=script,
        dropped=dropped,
    )
