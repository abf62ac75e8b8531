"""Silver entities from the PKU part-of-speech tags of the People's Daily corpus.

`nt` → ORG; `ns` → GPE or LOC (gazetteer first, then suffixes); one-character place
abbreviations (`中/j 美/j`) → GPE; runs of `t` → DATE; numeral + measure word (`m` + `q`)
→ QUANTITY. This copy of the corpus lost the brackets of compound names
(`[中央/n 人民/n 广播/vn 电台/n]nt`), so a run of noun-like tokens that starts at an anchor
and ends in an organisation head is repaired into one ORG (`repair_compound_orgs`).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from pydantic import Field

from zhner.config import Strict, config_path, load_model
from zhner.pipeline.corpus import Token

_ADMIN_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "地区", "省", "市", "县", "区", "盟", "旗")


class SilverRules(Strict):
    """The `silver:` block of configs/bootstrap.yml."""

    gpe_suffixes: list[str]
    loc_suffixes: list[str]
    loc_words: list[str] = Field(default_factory=list)
    gpe_abbreviations: list[str] = Field(default_factory=list)
    org_words: list[str] = Field(default_factory=list)
    date_exclude: list[str] = Field(default_factory=list)
    date_trailers: list[str] = Field(default_factory=list)
    duration_units: list[str] = Field(default_factory=list)
    untagged_units: list[str] = Field(default_factory=list)
    quantity_exclude_prefixes: list[str] = Field(default_factory=list)
    quantity_exclude_words: list[str] = Field(default_factory=list)
    quantity_one_excluded_measures: list[str] = Field(default_factory=list)
    quantity_prefixes: list[str] = Field(default_factory=list)
    quantity_suffixes: list[str] = Field(default_factory=list)
    merge_gpe_chains: bool = True
    gpe_suffix_words: list[str] = Field(default_factory=list)
    repair_compound_orgs: bool = True
    org_run_tags: list[str]
    org_anchors: list[str] = Field(default_factory=list)
    org_heads: list[str]
    org_head_suffixes: list[str] = Field(default_factory=list)


def load_rules(path: Path | None = None) -> SilverRules:
    return load_model(path or config_path("bootstrap.yml"), SilverRules, key="silver")


@lru_cache(maxsize=1)
def admin_gazetteer() -> frozenset[str]:
    """Chinese administrative divisions (cpca's adcodes), full names and names without their suffix."""
    names: set[str] = set()
    with files("cpca").joinpath("resources/adcodes.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["name"]
            names.add(name)
            for suffix in _ADMIN_SUFFIXES:
                if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                    names.add(name[: -len(suffix)])
                    break
    return frozenset(names)


@dataclass
class SilverSentence:
    """Gold words of one corpus line with token-level entity spans [start, end)."""

    words: list[str]
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    repaired: int = 0

    @property
    def text(self) -> str:
        return "".join(self.words)

    def char_spans(self) -> list[tuple[int, int, str]]:
        offsets = [0]
        for w in self.words:
            offsets.append(offsets[-1] + len(w))
        return [(offsets[s], offsets[e], label) for s, e, label in self.spans]


def place_label(word: str, rules: SilverRules) -> str:
    """GPE or LOC for a word tagged ns."""
    if word in admin_gazetteer() or word.endswith(tuple(rules.gpe_suffixes)):
        return "GPE"
    if word in rules.loc_words or word.endswith(tuple(rules.loc_suffixes)):
        return "LOC"
    return "GPE"


def silver_entities(tokens: Sequence[Token], rules: SilverRules) -> SilverSentence:
    """Token-level silver spans for one tagged line (no overlaps; compound ORGs win)."""
    words = [w for w, _ in tokens]
    taken = [False] * len(tokens)
    spans: list[tuple[int, int, str]] = []

    def claim(start: int, end: int, label: str) -> None:
        if not any(taken[start:end]):
            spans.append((start, end, label))
            taken[start:end] = [True] * (end - start)

    repaired = 0
    if rules.repair_compound_orgs:
        for start, end in _compound_orgs(tokens, rules):
            claim(start, end, "ORG")
            repaired += 1
    i = 0
    while i < len(tokens):
        word, tag = tokens[i]
        if tag == "nt" or word in rules.org_words:
            claim(i, i + 1, "ORG")
        elif tag == "ns":
            label, end = place_label(word, rules), i + 1
            while label == "GPE" and rules.merge_gpe_chains and end < len(tokens):
                if tokens[end][1] == "n" and tokens[end][0] in rules.gpe_suffix_words:
                    end += 1
                elif tokens[end][1] == "ns" and place_label(tokens[end][0], rules) == "GPE":
                    end += 1
                else:
                    break
            claim(i, end, label)
            i = end
            continue
        elif tag == "j" and word in rules.gpe_abbreviations:
            claim(i, i + 1, "GPE")
        i += 1
    for start, end in _date_runs(tokens, rules):
        claim(start, end, "DATE")
    for start, end, label in _quantities(tokens, rules):
        claim(start, end, label)
    return SilverSentence(words=words, spans=sorted(spans), repaired=repaired)


def _is_head(word: str, tag: str, rules: SilverRules) -> bool:
    return tag == "nt" or word in rules.org_heads or (tag == "n" and word.endswith(tuple(rules.org_head_suffixes)))


def _is_anchor(word: str, tag: str, rules: SilverRules) -> bool:
    return tag in ("ns", "nt", "nz") or word in rules.org_anchors or word in rules.org_words


def _compound_orgs(tokens: Sequence[Token], rules: SilverRules) -> list[tuple[int, int]]:
    """Maximal anchor…head runs of noun-like tokens, two tokens or more."""
    run_tags = set(rules.org_run_tags)
    found: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        if tokens[i][1] not in run_tags:
            i += 1
            continue
        j = i
        while j < n and tokens[j][1] in run_tags:
            j += 1
        # inside the run [i, j): the span starts at the first anchor and ends at the last head after it
        start = next((k for k in range(i, j) if _is_anchor(*tokens[k], rules)), None)
        if start is not None:
            end = next((k + 1 for k in range(j - 1, start, -1) if _is_head(*tokens[k], rules)), None)
            if end is not None and end - start >= 2:
                found.append((start, end))
        i = j
    return found


def _date_runs(tokens: Sequence[Token], rules: SilverRules) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        word, tag = tokens[i]
        if tag != "t" or word in rules.date_exclude:
            i += 1
            continue
        j = i + 1
        while j < n and tokens[j][1] == "t" and tokens[j][0] not in rules.date_exclude:
            j += 1
        if j < n and tokens[j][0] in rules.date_trailers and tokens[j][1] in ("f", "t", "n", "Ng"):
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _quantities(tokens: Sequence[Token], rules: SilverRules) -> list[tuple[int, int, str]]:
    """m + q+ (with approximators) → QUANTITY; durations → DATE; percentages alone → QUANTITY."""
    found: list[tuple[int, int, str]] = []
    i, n = 0, len(tokens)
    while i < n:
        word, tag = tokens[i]
        if tag != "m" or word in rules.quantity_exclude_words or word.startswith(tuple(rules.quantity_exclude_prefixes)):
            i += 1
            continue
        j = i + 1
        while j < n and tokens[j][1] == "q":
            j += 1
        measures = [w for w, _ in tokens[i + 1 : j]]
        percent = word.endswith(("%", "％")) or word.startswith("百分之")
        if not measures and not percent:
            i = j
            continue
        if word == "一" and measures and measures[0] in rules.quantity_one_excluded_measures and len(measures) == 1:
            i = j
            continue
        if measures and measures[-1] in rules.untagged_units:
            i = j
            continue
        label = "DATE" if measures and measures[-1] in rules.duration_units else "QUANTITY"
        start, end = i, j
        if label == "QUANTITY":
            if start > 0 and tokens[start - 1][0] in rules.quantity_prefixes:
                start -= 1
            if end < n and tokens[end][0] in rules.quantity_suffixes:
                end += 1
        elif start > 0 and tokens[start - 1][0] in rules.quantity_prefixes:
            start -= 1
        found.append((start, end, label))
        i = j
    return found


def silver_corpus(sentences: Sequence[Sequence[Token]], rules: SilverRules) -> list[SilverSentence]:
    return [silver_entities(s, rules) for s in sentences]


def silver_stats(sentences: Sequence[Sequence[Token]], rules: SilverRules) -> dict:
    """What the bracket repair changes: compound ORGs found, and labels they absorb from the naive reading."""
    naive_rules = rules.model_copy(update={"repair_compound_orgs": False})
    counts: Counter = Counter()
    absorbed: Counter = Counter()
    examples: Counter = Counter()
    for tokens in sentences:
        repaired, naive = silver_entities(tokens, rules), silver_entities(tokens, naive_rules)
        counts.update(label for *_, label in naive.spans)
        counts["ORG_repaired"] += repaired.repaired
        orgs = {(s, e) for s, e, label in repaired.spans if label == "ORG" and e - s >= 2}
        for s, e in orgs:
            examples["".join(repaired.words[s:e])] += 1
            absorbed.update(label for ns, ne, label in naive.spans if s <= ns and ne <= e)
    return {
        "naive_label_counts": dict(counts),
        "compound_orgs": counts["ORG_repaired"],
        "naive_spans_inside_compound_orgs": dict(absorbed),
        "top_compound_orgs": examples.most_common(25),
    }
