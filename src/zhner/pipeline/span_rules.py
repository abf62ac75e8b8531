"""The guidelines' boundary and exclusion rules, applied to the finished entities (`zhner_span_rules`).

The NER learns boundaries from People's Daily silver, whose conventions differ from
configs/guidelines.md (a clock time inside a DATE, 6月底 as two words, 中美 as places). The rules of
`configs/patterns/span_rules.yml` put the guidelines back on every entity, whoever found it. They work
on character spans (`apply_rules`, testable without spaCy); the component maps the result to tokens,
splitting a token where a new boundary falls inside it, as the pattern layer does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from spacy.language import Language
from spacy.tokens import Doc

from zhner.config import Strict
from zhner.nlp import ENT_SCORES_KEY, PATTERN_SPANS_KEY
from zhner.errors import fail
from zhner.pipeline.pattern_files import LexiconFile, RegexFile, alternation, default_patterns_dir, load_file
from zhner.pipeline.patterns import split_at_boundaries

FILE = "span_rules.yml"
FACTORY = "zhner_span_rules"


class DateRules(Strict):
    enabled: bool = True
    clock_time: str
    drop: list[str] = Field(default_factory=list)
    trailers: list[str] = Field(default_factory=list)
    trailer_not_before: dict[str, str] = Field(default_factory=dict)
    range_joiners: list[str] = Field(default_factory=list)
    period_prefixes: list[str] = Field(default_factory=list)
    period: str = "(?!)"


class QuantityRules(Strict):
    enabled: bool = True
    one_measure: str


class GpeRules(Strict):
    enabled: bool = True
    abbreviations: str = ""


class OrgRules(Strict):
    enabled: bool = True
    merge_joiners: list[str] = Field(default_factory=list)
    strip_prefixes: list[str] = Field(default_factory=list)
    head_lists: list[str] = Field(default_factory=list, description="lists of lexicon.yml whose words are heads")
    heads: list[str] = Field(default_factory=list)


class LocRules(Strict):
    enabled: bool = True
    head_lists: list[str] = Field(default_factory=list, description="lists of lexicon.yml whose words are heads")
    heads: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    trim_suffixes: list[str] = Field(default_factory=list)
    road: str = "(?!)"
    road_not_before: str = ""
    ring_road: str = "(?!)"


class SpanRulesFile(Strict):
    """configs/patterns/span_rules.yml."""

    pattern_wins: list[str] = Field(default_factory=list)
    date: DateRules
    quantity: QuantityRules
    gpe: GpeRules
    org: OrgRules
    loc: LocRules = Field(default_factory=lambda: LocRules(enabled=False))


@dataclass(frozen=True)
class CompiledRules:
    file: SpanRulesFile
    clock: re.Pattern[str]
    period: re.Pattern[str]
    one_measure: re.Pattern[str]
    units: frozenset[str]
    trailers: tuple[str, ...]  # longest first
    org_heads: frozenset[str]
    org_head_end: re.Pattern[str]  # the longest head a text ends with, something before it
    org_head_at: re.Pattern[str]  # the longest head of two characters or more, by .match(text, pos, limit)
    loc_head_end: re.Pattern[str]
    road: re.Pattern[str]
    road_end: re.Pattern[str]
    ring_road: re.Pattern[str]


@lru_cache(maxsize=8)
def _compiled(patterns_dir: str) -> CompiledRules:
    base = Path(patterns_dir)
    rules: SpanRulesFile = load_file(base / FILE, SpanRulesFile)
    units = load_file(base / "regex.yml", RegexFile).lists.get("UNIT", [])
    lexicon = load_file(base / "lexicon.yml", LexiconFile).model_dump()

    def heads(family: str, words: list[str], lists: list[str]) -> set[str]:
        found = set(words)
        for name in lists:
            if name not in lexicon:
                raise fail("E005", path=base / FILE, reason=f"{family}.head_lists: lexicon.yml has no list {name!r}")
            found.update(lexicon[name])
        return found

    org_heads, loc_heads = heads("org", rules.org.heads, rules.org.head_lists), heads("loc", rules.loc.heads, rules.loc.head_lists)

    return CompiledRules(
        file=rules, clock=re.compile(rules.date.clock_time), period=re.compile(rules.date.period),
        one_measure=re.compile(rules.quantity.one_measure), units=frozenset(units),
        trailers=tuple(sorted(rules.date.trailers, key=len, reverse=True)),
        org_heads=frozenset(org_heads), org_head_end=_suffix_regex(org_heads),
        org_head_at=_alternation([h for h in org_heads if len(h) >= 2]), loc_head_end=_suffix_regex(loc_heads),
        road=re.compile(rules.loc.road), road_end=re.compile(f"(?:{rules.loc.road})$"),
        ring_road=re.compile(rules.loc.ring_road),
    )


# The head lists run to hundreds of words: one regex alternation (longest first, so the first
# alternative that matches is the longest) scans a span once where a loop of endswith calls was a
# tenth of the whole pipeline's time.
def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    return re.compile(alternation(words) or "(?!)")


def _suffix_regex(words: Iterable[str]) -> re.Pattern[str]:
    """`.search(text)` finds the longest of `words` that `text` ends with and is longer than."""
    return re.compile(f"(?<=.)(?:{_alternation(words).pattern})\\Z", re.S)


def load_rules(patterns_dir: Path | str | None = None) -> CompiledRules:
    return _compiled(str(Path(patterns_dir or default_patterns_dir()).resolve()))


# -- the rules over character spans -----------------------------------------------------------------


Triple = tuple[int, int, str]


def _overlaps(a: Triple, b: Triple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def prefer_patterns(ents: Iterable[Triple], patterns: Iterable[Triple], labels: Iterable[str]) -> list[Triple]:
    """The pattern spans of `labels`, then every entity that does not overlap them."""
    keep = set(labels)
    wins = [p for p in patterns if p[2] in keep]
    wins = [p for i, p in enumerate(wins) if not any(_overlaps(p, q) for q in wins[:i])]
    return sorted(wins + [e for e in ents if not any(_overlaps(e, w) for w in wins)])


def _keep(text: str, span: list, rules: CompiledRules) -> bool:
    """Trim a DATE's clock time; False for what the guidelines leave unmarked."""
    start, end, label = span
    words = text[start:end]
    cfg = rules.file
    if label == "DATE" and cfg.date.enabled:
        clock = rules.clock.search(words)
        if clock:
            if clock.start() == 0:
                return False
            span[1] = end = start + clock.start()
            words = text[start:end]
        return words not in cfg.date.drop
    if label == "QUANTITY" and cfg.quantity.enabled:
        return not (rules.one_measure.fullmatch(words) and words[1:] not in rules.units)
    if label == "GPE" and cfg.gpe.enabled and len(words) >= 2:
        return not all(c in cfg.gpe.abbreviations for c in words)
    return True


def _stretch_date(text: str, span: list, rules: CompiledRules, lo: int, hi: int) -> None:
    """Take in the qualifiers after a DATE (twice at most: 8日晚上) and a determiner before a period,
    never past `lo`/`hi` (the neighbouring entities' edges)."""
    date = rules.file.date
    for _ in range(2):
        end = span[1]
        word = next((w for w in rules.trailers if text.startswith(w, end)), None)
        if word is None or end + len(word) > hi or _followed_by(text, end + len(word), date.trailer_not_before.get(word, "")):
            break
        span[1] = end + len(word)
    if rules.period.fullmatch(text[span[0] : span[1]]):
        prefix = next((p for p in date.period_prefixes if text[max(0, span[0] - len(p)) : span[0]] == p), None)
        if prefix and span[0] - len(prefix) >= lo:
            span[0] -= len(prefix)


def _followed_by(text: str, pos: int, chars: str) -> bool:
    """Whether the character at `pos` is one of `chars` (never at the end of the text)."""
    return pos < len(text) and text[pos] in chars


def _joined(text: str, left: list, right: list, label: str, joiners: Iterable[str], *, adjacent: bool) -> bool:
    """Two spans of `label` with one of `joiners` between them (or nothing, when `adjacent` joins too)."""
    if not (left[2] == right[2] == label):
        return False
    gap = text[left[1] : right[0]]
    return (adjacent and gap == "") or gap in joiners


def apply_rules(text: str, ents: Iterable[Triple], rules: CompiledRules) -> list[tuple[Triple, Triple | None]]:
    """The entities after the rules, each as (new span, the entity it came from; None for one a rule added)."""
    cfg = rules.file
    kept = []
    for ent in sorted(ents):
        span = list(ent)
        if _keep(text, span, rules):
            kept.append((span, ent))
    for i, (span, _) in enumerate(kept):
        if span[2] == "DATE" and cfg.date.enabled:
            lo = kept[i - 1][0][1] if i else 0
            hi = kept[i + 1][0][0] if i + 1 < len(kept) else len(text)
            _stretch_date(text, span, rules, lo, hi)
        if span[2] == "ORG" and cfg.org.enabled and text[span[0]] in cfg.org.strip_prefixes and span[1] - span[0] > 2:
            span[0] += 1
    out: list[tuple[list, Triple]] = []
    for span, origin in kept:
        prev = out[-1][0] if out else None
        if prev and cfg.date.enabled and _joined(text, prev, span, "DATE", cfg.date.range_joiners, adjacent=False):
            prev[1] = span[1]
        elif prev and cfg.org.enabled and _joined(text, prev, span, "ORG", cfg.org.merge_joiners, adjacent=True):
            prev[1] = span[1]
        else:
            out.append((span, origin))
    if cfg.org.enabled:
        out = _org_heads(text, out, rules)
    if cfg.loc.enabled:
        out = _loc_rules(text, out, rules)
    return [((s, e, label), origin) for (s, e, label), origin in out]


def _org_heads(text: str, spans: list[tuple[list, Triple]], rules: CompiledRules) -> list[tuple[list, Triple]]:
    """GPE/LOC ending in a head → ORG; a place or body followed by a head (an ORG entity, or two characters
    or more of plain text up to the next entity) → one ORG."""
    for span, _ in spans:
        if span[2] in ("GPE", "LOC") and rules.org_head_end.search(text[span[0] : span[1]]):
            span[2] = "ORG"
    out: list[tuple[list, Triple]] = []
    for span, origin in spans:
        prev = out[-1][0] if out else None
        if prev and prev[2] in ("GPE", "ORG") and span[2] == "ORG" and span[0] == prev[1] and text[span[0] : span[1]] in rules.org_heads:
            prev[1], prev[2] = span[1], "ORG"
        else:
            out.append((span, origin))
    for i, (span, _) in enumerate(out):
        if span[2] in ("GPE", "ORG"):
            limit = out[i + 1][0][0] if i + 1 < len(out) else len(text)
            head = rules.org_head_at.match(text, span[1], limit)
            if head:
                span[1], span[2] = head.end(), "ORG"
    return out


def _ends_in(pattern: re.Pattern[str], words: str) -> bool:
    """Whether `words` ends in `pattern` with something before it."""
    found = pattern.search(words)
    return found is not None and found.start() > 0


def _longest_suffix(words: str, heads: re.Pattern[str]) -> int:
    """The length of the longest head (a `_suffix_regex`) that `words` ends with and is longer than; 0 for none."""
    found = heads.search(words)
    return len(found.group()) if found else 0


def _loc_rules(text: str, spans: list, rules: CompiledRules) -> list:
    """Facilities, estates, regions, roads and ring roads as the guidelines mark them (LOC)."""
    loc = rules.file.loc
    for i, (span, _) in enumerate(spans):
        words = text[span[0] : span[1]]
        if span[2] in ("GPE", "LOC"):
            suffix = next((t for t in loc.trim_suffixes if len(words) > len(t) and words.endswith(t)), None)
            if suffix:  # place + 地区 marks only the place
                span[1] -= len(suffix)
                words = text[span[0] : span[1]]
        if span[2] == "GPE" and (words in loc.regions or rules.ring_road.fullmatch(words)
                                 or _ends_in(rules.road_end, words)):  # a road is LOC (南湖南路)
            span[2] = "LOC"
        # a facility's head wins over an organisation's only when it is the longer suffix (博物馆 vs 馆)
        if span[2] in ("ORG", "GPE") and _longest_suffix(words, rules.loc_head_end) > _longest_suffix(words, rules.org_head_end):
            span[2] = "LOC"
        if span[2] in ("GPE", "LOC"):
            limit = spans[i + 1][0][0] if i + 1 < len(spans) else len(text)
            road = rules.road.match(text, span[1], limit)
            if road and not _followed_by(text, road.end(), loc.road_not_before):
                span[1], span[2] = road.end(), "LOC"
    taken = [span for span, _ in spans]
    added = [([m.start(), m.end(), "LOC"], None) for m in rules.ring_road.finditer(text)
             if not any(m.start() < s[1] and s[0] < m.end() for s in taken)]
    return sorted(spans + added, key=lambda pair: pair[0][:2]) if added else spans


# -- the spaCy component -------------------------------------------------------------------------------


@Language.factory(FACTORY, default_config={"patterns_dir": None}, assigns=["doc.ents", "token.ent_iob", "token.ent_type"])
def make_span_rules(nlp: Language, name: str, patterns_dir: str | None) -> "SpanRulesComponent":
    return SpanRulesComponent(name, patterns_dir=patterns_dir)


class SpanRulesComponent:
    """Applies configs/patterns/span_rules.yml to doc.ents; last in the pipeline."""

    def __init__(self, name: str, *, patterns_dir: str | None = None):
        self.name = name
        self.patterns_dir = Path(patterns_dir) if patterns_dir else default_patterns_dir()
        self._rules: CompiledRules | None = None  # loaded on first use: from_disk may point elsewhere first

    @property
    def rules(self) -> CompiledRules:
        if self._rules is None:  # once, not a path resolution per doc
            self._rules = load_rules(self.patterns_dir)
        return self._rules

    def __call__(self, doc: Doc) -> Doc:
        rules = self.rules
        patterns = [(s.start_char, s.end_char, s.label_) for s in doc.spans.get(PATTERN_SPANS_KEY, [])]
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        ents = prefer_patterns(ents, patterns, rules.file.pattern_wins)
        result = apply_rules(doc.text, ents, rules)
        split_at_boundaries(doc, {b for (s, e, _), _ in result for b in (s, e)})
        spans = [doc.char_span(s, e, label=label, alignment_mode="strict") for (s, e, label), _ in result]
        self._carry(doc, result, set(patterns))
        doc.set_ents([s for s in spans if s is not None], default="outside")
        return doc

    @staticmethod
    def _carry(doc: Doc, result: list[tuple[Triple, Triple | None]], patterns: set[Triple]) -> None:
        """A changed span keeps its origin's score and, for a pattern span, its source; a span a rule
        added counts as a pattern span (score 1.0)."""
        scores = doc.user_data.get(ENT_SCORES_KEY)
        added = []
        for new, origin in result:
            if new == origin:
                continue
            if origin is None:
                span = doc.char_span(new[0], new[1], label=new[2])
                if span is not None:
                    added.append(span)
                continue
            if scores is not None:
                key = "{}:{}:{}".format
                scores[key(*new)] = scores.get(key(*origin), 0.0)
            if origin in patterns:
                span = doc.char_span(new[0], new[1], label=new[2])
                if span is not None:
                    added.append(span)
        if added:
            doc.spans[PATTERN_SPANS_KEY] = list(doc.spans.get(PATTERN_SPANS_KEY, [])) + added

    def to_disk(self, path: Path | str, *, exclude: Iterable[str] = ()) -> None:
        """Save the rules (and regex.yml and lexicon.yml, whose units and heads they read) with the pipeline."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in (FILE, "regex.yml", "lexicon.yml"):
            (path / name).write_text((self.patterns_dir / name).read_text(encoding="utf-8"), encoding="utf-8")

    def from_disk(self, path: Path | str, *, exclude: Iterable[str] = ()) -> "SpanRulesComponent":
        self.patterns_dir = Path(path)
        self._rules = None
        return self
