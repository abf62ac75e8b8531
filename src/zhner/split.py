"""Held-out split: whole articles (never paragraphs) to train/dev/test, reproducibly.

Articles are ordered by a seeded hash of their id and dealt out by the ratios, so the
assignment does not depend on file order; pinned articles always go to `test`, and a
near-duplicate group follows its canonical article.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from pydantic import Field, model_validator

from zhner.config import Strict
from zhner.dedupe import DuplicateGroup
from zhner.schemas import SPLITS, Article, Splits


class SplitConfig(Strict):
    seed: int = 13
    ratios: dict[str, float] = Field(default_factory=lambda: {"train": 0.7, "dev": 0.15, "test": 0.15})
    pin_test: list[str] = Field(default_factory=list, description="file names or article ids always in test")

    @model_validator(mode="after")
    def _known_splits(self) -> "SplitConfig":
        unknown = set(self.ratios) - set(SPLITS)
        if unknown or abs(sum(self.ratios.values()) - 1) > 1e-6:
            raise ValueError(f"ratios must be over {SPLITS} and sum to 1, got {self.ratios}")
        return self


def _order_key(article_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{article_id}".encode()).hexdigest()


def _quotas(n: int, ratios: dict[str, float]) -> dict[str, int]:
    """Counts per split by largest remainder, with at least one dev article when there are two or more."""
    exact = {s: n * ratios.get(s, 0.0) for s in SPLITS}
    counts = {s: int(exact[s]) for s in SPLITS}
    for s in sorted(SPLITS, key=lambda s: exact[s] - counts[s], reverse=True)[: n - sum(counts.values())]:
        counts[s] += 1
    if n >= 2 and ratios.get("dev", 0) > 0 and counts["dev"] == 0:
        donor = max(("train", "test"), key=lambda s: counts[s])
        counts[donor] -= 1
        counts["dev"] += 1
    return counts


def assign_splits(
    articles: Sequence[Article], groups: Iterable[DuplicateGroup], cfg: SplitConfig, *, pin_test: Iterable[str] = ()
) -> Splits:
    """The content of splits.json: every canonical article, and each duplicate with its group."""
    pinned_keys = set(pin_test)
    pinned = [a for a in articles if a.id in pinned_keys or a.file in pinned_keys]
    free = sorted((a for a in articles if a not in pinned), key=lambda a: _order_key(a.id, cfg.seed))
    assignment = {a.id: "test" for a in pinned}
    counts = _quotas(len(free), cfg.ratios)
    position = 0
    for split in SPLITS:
        for a in free[position : position + counts[split]]:
            assignment[a.id] = split
        position += counts[split]
    duplicates = {}
    for group in groups:
        canonical = group.articles[group.canonical].id
        for i in group.members:
            if i != group.canonical:
                duplicates[group.articles[i].id] = assignment[canonical]
    return Splits(
        seed=cfg.seed,
        ratios=cfg.ratios,
        pinned_test=sorted(a.id for a in pinned),
        articles=dict(sorted(assignment.items())),
        duplicates=dict(sorted(duplicates.items())),
    )
