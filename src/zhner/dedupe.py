"""Near-duplicate articles: character n-gram TF-IDF and cosine similarity (scikit-learn).

The same story often arrives twice, re-published with another header and other
punctuation widths; training or evaluating on both copies would leak test text
into training. Fingerprints fold width (NFKC) and drop punctuation first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from zhner.config import Strict
from zhner.schemas import Article

_NON_WORD = re.compile(r"[\W_]+")


class DedupeConfig(Strict):
    ngram_range: tuple[int, int] = (2, 3)
    threshold: float = Field(0.8, gt=0, le=1)
    chunk_rows: int = Field(1000, gt=0)


@dataclass
class DuplicateGroup:
    """Articles that are one story; `canonical` is the one kept in the corpus."""

    canonical: int
    members: list[int]
    similarity: dict[int, float]
    articles: Sequence[Article]

    def to_json(self) -> dict:
        keep = self.articles[self.canonical]
        return {
            "canonical": {"id": keep.id, "file": keep.file},
            "duplicates": [
                {"id": self.articles[i].id, "file": self.articles[i].file, "similarity": self.similarity[i]}
                for i in self.members
                if i != self.canonical
            ],
        }


def fingerprint(text: str) -> str:
    """Text as compared for duplication: width-folded, lower-case, without punctuation or spaces."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def similar_pairs(texts: Sequence[str], cfg: DedupeConfig) -> list[tuple[int, int, float]]:
    """Pairs (i < j) whose TF-IDF cosine similarity reaches the threshold; computed in row chunks."""
    if len(texts) < 2:
        return []
    vectors = TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg.ngram_range), dtype=np.float32).fit_transform(
        texts
    )
    pairs = []
    for start in range(0, vectors.shape[0], cfg.chunk_rows):
        block = (vectors[start : start + cfg.chunk_rows] @ vectors.T).tocoo()
        for i, j, sim in zip(block.row + start, block.col, block.data):
            if i < j and sim >= cfg.threshold:
                pairs.append((int(i), int(j), round(float(sim), 4)))
    return pairs


def _canonical(members: list[int], articles: Sequence[Article]) -> int:
    """Keep the copy with the most header information, then the longest body, then the first file."""

    def rank(i: int) -> tuple:
        a = articles[i]
        return (-(a.date is not None) - (a.source is not None) - (a.title is not None), -len(a.body), a.file, i)

    return min(members, key=rank)


def find_duplicate_groups(articles: Sequence[Article], cfg: DedupeConfig) -> list[DuplicateGroup]:
    """Groups of two or more near-duplicate articles (connected components of similar pairs)."""
    pairs = similar_pairs([fingerprint(a.body) for a in articles], cfg)
    if not pairs:
        return []
    rows, cols, sims = zip(*pairs)
    n = len(articles)
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    best: dict[tuple[int, int], float] = {(i, j): s for i, j, s in pairs}
    groups = []
    for component in sorted({labels[i] for i in rows}):
        members = [i for i in range(n) if labels[i] == component]
        keep = _canonical(members, articles)
        similarity = {i: best.get((min(i, keep), max(i, keep)), 0.0) for i in members}
        groups.append(DuplicateGroup(keep, members, similarity, articles))
    return groups
