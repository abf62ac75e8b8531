"""The pattern layer: rule-based ORG, GPE, LOC, DATE and QUANTITY spans for Chinese news.

All patterns are data under `configs/patterns/` (read and validated by zhner.pipeline.pattern_files):
- `regex.yml`: DATE and QUANTITY regular expressions built from named fragments and word lists;
- `lexicon.yml`: word lists (organisation names, prefixes, fields, suffixes, locations, stop words);
- `gazetteer.yml`: how the administrative divisions of the installed `cpca` package become
  place names and short forms (拉萨市 → 拉萨);
- `grammar.yml`: regular expressions over one symbol per lexicon word that compose
  西藏自治区 + 党委 into one ORG.

`match_patterns(text)` returns non-overlapping character spans (longest first, then leftmost);
the spaCy component `zhner_patterns` aligns them to tokens (splitting tokens where needed),
stores them in `doc.spans["zhner_patterns"]` and merges them into `doc.ents`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick
from spacy.language import Language
from spacy.tokens import Doc, Span as SpacySpan
from spacy.util import filter_spans

from zhner.errors import fail
from zhner.nlp import PATTERN_SPANS_KEY
from zhner.pipeline.pattern_files import (  # noqa: F401  FILES, default_patterns_dir: this module's API too
    FILES, GazetteerFile, GrammarFile, LexiconFile, RegexFile, Rule, alternation, default_patterns_dir, load_file,
    place_names,
)
from zhner.schemas import Span

SPANS_KEY = PATTERN_SPANS_KEY
SOURCE = "pattern"

# One symbol per lexicon list; grammar.yml is written with these letters (see its header).
KIND_SYMBOLS: dict[str, str] = {
    "never": "!",
    "org": "N",
    "loc": "L",
    "gpe": "P",
    "org_suffix_strong": "T",
    "org_suffix": "S",
    "facility": "F",
    "org_domain": "D",
    "org_prefix": "X",
    "gpe_prefix": "G",
    "village": "V",
    "block": "Z",
}
UNKNOWN = "C"
_CONTINUATION = {sym: chr(0x61 + i) for i, sym in enumerate("!NLPTSFDXGVZ")}  # lower-case tails


# ---------------------------------------------------------------------------------------------
# Compiling the data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    name: str
    label: str
    score: float
    regex: re.Pattern[str]
    keep: int = 0

    def spans(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, label, score) of every non-empty match in `text`."""
        return [(m.start(self.keep), m.end(self.keep), self.label, self.score)
                for m in self.regex.finditer(text) if m.end(self.keep) > m.start(self.keep) >= 0]


@dataclass(frozen=True)
class Matcher:
    """Everything `match_patterns` needs, compiled once per patterns directory."""

    automaton: Any
    regex_rules: tuple[CompiledRule, ...]
    grammar_rules: tuple[CompiledRule, ...]
    n_places: int

    def match(self, text: str) -> list[Span]:
        return [Span(start=s, end=e, label=label, source=SOURCE, score=score) for s, e, label, score in self.triples(text)]

    def triples(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, label, score) of the kept spans, sorted: `match` without building records."""
        if not text:
            return []
        symbols, never = self._symbols(text)
        candidates: list[tuple[int, int, str, float]] = []
        for rule in self.grammar_rules:
            candidates += rule.spans(symbols)
        for rule in self.regex_rules:
            candidates += [c for c in rule.spans(text) if not never or not _overlaps_any(c[0], c[1], never)]
        return _longest_non_overlapping(candidates)

    def _symbols(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """One symbol per character: a word's kind on its first character, a lower-case tail on the rest."""
        symbols = bytearray(UNKNOWN.encode()) * len(text)
        never: list[tuple[int, int]] = []
        for end, (symbol, length) in self.automaton.iter_long(text):
            start = end + 1 - length
            symbols[start] = ord(symbol)
            symbols[start + 1 : end + 1] = _CONTINUATION[symbol].encode() * (length - 1)
            if symbol == "!":
                never.append((start, end + 1))
        return symbols.decode("ascii"), never


def _overlaps_any(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in ranges)


def _longest_non_overlapping(
    candidates: Iterable[tuple[int, int, str, float]],
) -> list[tuple[int, int, str, float]]:
    """Keep the longest candidates first (then leftmost, then most confident) that overlap no kept one."""
    taken = bytearray()
    kept = []
    for start, end, label, score in sorted(candidates, key=lambda c: (c[0] - c[1], c[0], -c[3])):
        if len(taken) < end:
            taken.extend(b"\0" * (end - len(taken)))
        if not any(taken[start:end]):
            taken[start:end] = b"\1" * (end - start)
            kept.append((start, end, label, score))
    return sorted(kept)


def _expand_lists(lists: dict[str, list[str]], path: Path) -> dict[str, list[str]]:
    """Resolve '@NAME' items (another list's words) in the `lists` of regex.yml."""
    out: dict[str, list[str]] = {}
    for name, items in lists.items():
        words: list[str] = []
        for item in items:
            if item.startswith("@"):
                if item[1:] not in out:
                    raise fail("E005", path=path, reason=f"lists.{name}: {item} is not a list defined above it")
                words += out[item[1:]]
            else:
                words.append(item)
        out[name] = words
    return out


_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


def _substitute(pattern: str, parts: dict[str, str], where: str, path: Path) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in parts:
            raise fail("E005", path=path, reason=f"{where}: unknown fragment {{{m.group(1)}}}")
        return parts[m.group(1)]

    return _PLACEHOLDER.sub(one, pattern)


def _compile(pattern: str, where: str, path: Path) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise fail("E005", path=path, reason=f"{where}: invalid regular expression ({err})") from None


def compile_regex_rules(path: Path) -> tuple[CompiledRule, ...]:
    data: RegexFile = load_file(path, RegexFile)
    parts = {name: f"(?:{alternation(words)})" for name, words in _expand_lists(data.lists, path).items()}
    for name, fragment in data.fragments.items():
        parts[name] = f"(?:{_substitute(fragment, parts, f'fragments.{name}', path)})"
    return tuple(_rule(r, _substitute(r.pattern, parts, f"rule {r.name}", path), path) for r in data.rules)


def _rule(rule: Rule, pattern: str, path: Path) -> CompiledRule:
    regex = _compile(pattern, f"rule {rule.name}", path)
    if rule.keep > regex.groups:
        raise fail("E005", path=path, reason=f"rule {rule.name}: keep {rule.keep} but the pattern has {regex.groups} groups")
    return CompiledRule(rule.name, rule.label, rule.score, regex, rule.keep)


_SYMBOL_TOKEN = re.compile(r"\[([A-Z!]+)\]|([A-Z!])")


def _symbol_regex(pattern: str) -> str:
    """Let each symbol letter (or class) of a grammar pattern also take the tail of its word."""

    def one(m: re.Match[str]) -> str:
        letters = m.group(1) or m.group(2)
        tails = "".join(_CONTINUATION.get(s, "") for s in letters)
        head = f"[{re.escape(letters)}]"
        return f"(?:{head}[{tails}]*)" if tails else head

    return _SYMBOL_TOKEN.sub(one, pattern)


def compile_grammar(path: Path) -> tuple[CompiledRule, ...]:
    data: GrammarFile = load_file(path, GrammarFile)
    return tuple(_rule(r, _symbol_regex(r.pattern), path) for r in data.rules)


def build_automaton(lexicon: LexiconFile, places: set[str]) -> Any:
    """Aho-Corasick automaton: word → (symbol, length); the list written first in KIND_SYMBOLS wins."""
    automaton = ahocorasick.Automaton()
    for kind, symbol in KIND_SYMBOLS.items():
        words = getattr(lexicon, kind) + (sorted(places) if kind == "gpe" else [])
        for word in words:
            if word and word not in automaton:
                automaton.add_word(word, (symbol, len(word)))
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=8)
def _matcher_for(patterns_dir: str) -> Matcher:
    base = Path(patterns_dir)
    gazetteer: GazetteerFile = load_file(base / "gazetteer.yml", GazetteerFile)
    places = place_names(gazetteer)
    return Matcher(
        automaton=build_automaton(load_file(base / "lexicon.yml", LexiconFile), places),
        regex_rules=compile_regex_rules(base / "regex.yml"),
        grammar_rules=compile_grammar(base / "grammar.yml"),
        n_places=len(places),
    )


def load_matcher(patterns_dir: Path | str | None = None) -> Matcher:
    """The compiled patterns of a directory (default: configs/patterns), cached per directory."""
    return _matcher_for(str(Path(patterns_dir or default_patterns_dir()).resolve()))


def match_patterns(text: str, patterns_dir: Path | str | None = None) -> list[Span]:
    """Pattern spans over `text`: character offsets, non-overlapping, longest then leftmost first."""
    return load_matcher(patterns_dir).match(text)


# ---------------------------------------------------------------------------------------------
# spaCy component
# ---------------------------------------------------------------------------------------------


@Language.factory(
    "zhner_patterns",
    default_config={"overwrite_ents": False, "patterns_dir": None},
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
)
def make_pattern_component(
    nlp: Language, name: str, overwrite_ents: bool, patterns_dir: str | None
) -> "PatternComponent":
    return PatternComponent(nlp, name, overwrite_ents=overwrite_ents, patterns_dir=patterns_dir)


class PatternComponent:
    """Adds the pattern spans to a Doc, splitting tokens where a span starts or ends inside one."""

    def __init__(self, nlp: Language, name: str, *, overwrite_ents: bool = False, patterns_dir: str | None = None):
        self.name = name
        self.overwrite_ents = overwrite_ents
        self.patterns_dir = Path(patterns_dir) if patterns_dir else default_patterns_dir()
        self._matcher: Matcher | None = None  # compiled on first use: from_disk may point elsewhere first

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = load_matcher(self.patterns_dir)
        return self._matcher

    def __call__(self, doc: Doc) -> Doc:
        matches = self.matcher.triples(doc.text)
        has_ents = bool(doc.to_array("ENT_IOB").any())  # cheap, where reading doc.ents walks every token
        if not matches:
            doc.spans[SPANS_KEY] = []
            return doc
        split_at_boundaries(doc, {b for start, end, _, _ in matches for b in (start, end)})
        spans = [doc.char_span(start, end, label=label, alignment_mode="strict") for start, end, label, _ in matches]
        spans = [s for s in spans if s is not None]  # only a span over pure whitespace can fail here
        doc.spans[SPANS_KEY] = spans
        existing = list(doc.ents) if has_ents else []
        merged = merge_ents(existing, spans, overwrite=self.overwrite_ents)
        # Tokens outside every span keep their state: still "missing" for a NER that runs after
        # us and predicts around the preset entities; a model entity we replaced becomes "O".
        covered = {i for s in merged for i in range(s.start, s.end)}
        dropped = [doc[i : i + 1] for e in existing if e not in merged for i in range(e.start, e.end) if i not in covered]
        doc.set_ents(merged, outside=dropped, default="unmodified")
        return doc

    def to_disk(self, path: Path | str, *, exclude: Iterable[str] = ()) -> None:
        """Save the pattern files with the pipeline, so that a loaded pipeline uses the same patterns."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (path / name).write_text((self.patterns_dir / name).read_text(encoding="utf-8"), encoding="utf-8")

    def from_disk(self, path: Path | str, *, exclude: Iterable[str] = ()) -> "PatternComponent":
        self.patterns_dir = Path(path)
        self._matcher = None
        return self


def merge_ents(existing: list[SpacySpan], patterns: list[SpacySpan], *, overwrite: bool) -> list[SpacySpan]:
    """Entities without overlaps: the model's win unless `overwrite`; pattern spans fill the gaps."""
    first, second = (patterns, existing) if overwrite else (existing, patterns)
    taken = {i for s in first for i in range(s.start, s.end)}
    kept = list(first) + [s for s in second if not any(i in taken for i in range(s.start, s.end))]
    return filter_spans(kept)


def split_at_boundaries(doc: Doc, boundaries: set[int]) -> None:
    """Split every token that a character boundary falls inside of (e.g. jieba's 拉萨调查队)."""
    starts = doc.to_array("IDX").tolist()
    inside: dict[int, list[int]] = {}
    for b in sorted(boundaries):
        i = bisect_right(starts, b) - 1  # the token starting at or before b
        if i >= 0 and starts[i] < b < starts[i] + len(doc[i].text):
            inside.setdefault(i, []).append(b - starts[i])
    if not inside:
        return
    cuts = [(doc[i], inner) for i, inner in inside.items()]
    with doc.retokenize() as retokenizer:
        for token, inner in cuts:
            edges = [0, *inner, len(token.text)]
            orths = [token.text[a:b] for a, b in zip(edges, edges[1:])]
            heads = [(token, 0)] * len(orths)
            retokenizer.split(token, orths, heads=heads)
