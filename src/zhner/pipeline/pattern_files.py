"""The files of the pattern layer (`configs/patterns/*.yml`), validated on load, and the place names
that gazetteer.yml derives from the installed `cpca` package. zhner.pipeline.patterns compiles them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from zhner.config import Strict, config_path, label_names, load_yaml
from zhner.errors import fail

FILES = ("regex.yml", "lexicon.yml", "gazetteer.yml", "grammar.yml")


# ---------------------------------------------------------------------------------------------
# Configuration files, validated on load
# ---------------------------------------------------------------------------------------------


class Rule(Strict):
    name: str
    label: str
    score: float = Field(ge=0, le=1)
    pattern: str
    keep: int = Field(0, ge=0, description="the regex group that is the span (0: the whole match)")

    @field_validator("label")
    @classmethod
    def _known_label(cls, label: str) -> str:
        if label not in label_names():
            raise ValueError(f"unknown label {label!r} (known: {', '.join(label_names())})")
        return label


class RegexFile(Strict):
    lists: dict[str, list[str]] = Field(default_factory=dict)
    fragments: dict[str, str] = Field(default_factory=dict)
    rules: list[Rule]


class LexiconFile(Strict):
    never: list[str] = Field(default_factory=list)
    org: list[str] = Field(default_factory=list)
    loc: list[str] = Field(default_factory=list)
    gpe: list[str] = Field(default_factory=list)
    org_prefix: list[str] = Field(default_factory=list)
    gpe_prefix: list[str] = Field(default_factory=list)
    org_domain: list[str] = Field(default_factory=list)
    org_suffix: list[str] = Field(default_factory=list)
    org_suffix_strong: list[str] = Field(default_factory=list)
    facility: list[str] = Field(default_factory=list)
    village: list[str] = Field(default_factory=list)
    block: list[str] = Field(default_factory=list)


class GazetteerSource(Strict):
    package: str
    resource: str
    name_column: str = "name"
    code_column: str = "adcode"


class ShortForm(Strict):
    levels: list[str]
    match: str
    replace: list[str]
    max_word_frequency: int | None = Field(
        None, description="keep a short form only if the word-frequency dictionary counts it less often"
    )
    reject: str | None = Field(None, description="drop short forms that this regex matches")


class GazetteerFile(Strict):
    source: GazetteerSource
    nations: GazetteerSource | None = Field(None, description="nationalities, one per line, for {NATION} in short forms")
    word_frequencies: GazetteerSource | None = Field(
        None, description="a 'word frequency tag' dictionary in an installed package (jieba's dict.txt)"
    )
    skip_names: list[str] = Field(default_factory=list)
    min_county_length: int = 3
    short_forms: list[ShortForm] = Field(default_factory=list)
    short_form_stoplist: list[str] = Field(default_factory=list)


class GrammarFile(Strict):
    rules: list[Rule]


def load_file(path: Path, model: type[Strict]) -> Any:
    try:
        return model.model_validate(load_yaml(path) or {})
    except ValidationError as err:
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise fail("E005", path=path, reason=reason) from None


def default_patterns_dir() -> Path:
    return config_path("patterns")


# ---------------------------------------------------------------------------------------------
# The gazetteer's place names
# ---------------------------------------------------------------------------------------------


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first so that the longest one matches."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


def _division_level(code: str) -> str:
    if code[2:].strip("0") == "":
        return "province"
    if code[4:].strip("0") == "":
        return "prefecture"
    return "county"


def read_divisions(gazetteer: GazetteerFile) -> list[tuple[str, str]]:
    """(name, level) of every administrative division in the installed package's table."""
    src = gazetteer.source
    try:
        table = resources.files(src.package).joinpath(src.resource)
        with table.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise fail("E206", path=f"{src.package}/{src.resource}", reason=f"gazetteer source not installed ({err})")
    return [(r[src.name_column].strip(), _division_level(r[src.code_column].strip())) for r in rows]


def place_names(gazetteer: GazetteerFile) -> set[str]:
    """Full names of the divisions plus their short forms, as the gazetteer's rules say."""
    nation = f"(?:{alternation(nations(gazetteer))})族?"
    rules = [(set(r.levels), re.compile(r.match.replace("{NATION}", nation)), r.replace, r.max_word_frequency,
              re.compile(r.reject) if r.reject else None) for r in gazetteer.short_forms]
    skip, stop = set(gazetteer.skip_names), set(gazetteer.short_form_stoplist)
    names: set[str] = set()
    rare_if: dict[str, int] = {}  # short form → the frequency it must stay under
    for name, level in read_divisions(gazetteer):
        if name in skip or (level == "county" and len(name) < gazetteer.min_county_length):
            continue
        names.add(name)
        for levels, regex, replacements, max_freq, reject in rules:
            if level in levels and (m := regex.match(name)):
                for short in (m.expand(r) for r in replacements):
                    if len(short) < 2 or short in stop or (reject and reject.search(short)):
                        continue
                    if max_freq is None:
                        names.add(short)
                    else:
                        rare_if[short] = min(max_freq, rare_if.get(short, max_freq))
                break
    if rare_if:
        freq = word_frequencies(gazetteer, set(rare_if))
        names.update(short for short, limit in rare_if.items() if freq.get(short, 0) < limit)
    return names


def nations(gazetteer: GazetteerFile) -> list[str]:
    """Names of the nationalities without 族 (蒙古, 回, 藏 …), for the {NATION} placeholder."""
    src = gazetteer.nations
    if src is None:
        return []
    lines = _package_text(src, "nationalities").splitlines()
    return [n.strip().removesuffix("族") for n in lines if n.strip()]


def _package_text(src: GazetteerSource, what: str) -> str:
    try:
        return resources.files(src.package).joinpath(src.resource).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise fail("E206", path=f"{src.package}/{src.resource}", reason=f"{what} not installed ({err})") from None


def word_frequencies(gazetteer: GazetteerFile, words: set[str]) -> dict[str, int]:
    """Frequencies of `words` in the gazetteer's word-frequency dictionary (empty when none is configured)."""
    src = gazetteer.word_frequencies
    if src is None:
        return {}
    try:
        with resources.files(src.package).joinpath(src.resource).open(encoding="utf-8") as f:
            pairs = (line.split(" ", 2)[:2] for line in f)
            return {w: int(n) for w, n in pairs if w in words}
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise fail("E206", path=f"{src.package}/{src.resource}", reason=f"word frequencies not installed ({err})")
