"""Near-duplicate articles: character n-gram TF-IDF and cosine similarity (scikit-learn).

Up to `exact_max_articles` every pair is compared; above that, MinHash LSH (datasketch)
proposes candidate pairs and only those are scored, because the all-pairs product of
Chinese n-gram vectors is nearly dense (common words are shared by every article).

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
from datasketch import MinHash, MinHashLSH
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

from zhner.config import Strict
from zhner.schemas import Article

_NON_WORD = re.compile(r"[\W_]+")


class DedupeConfig(Strict):
    ngram_range: tuple[int, int] = (2, 3)
    threshold: float = Field(0.8, gt=0, le=1)
    chunk_rows: int = Field(1000, gt=0)
    exact_max_articles: int = Field(2000, ge=0)
    lsh_threshold: float = Field(0.5, gt=0, le=1)
    lsh_num_perm: int = Field(128, ge=16)


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
    """Pairs (i < j) whose TF-IDF cosine similarity reaches the threshold."""
    if len(texts) < 2:
        return []
    # Hashed n-gram counts: no vocabulary dictionary, so memory does not grow with the corpus's n-grams.
    counts = HashingVectorizer(
        analyzer="char", ngram_range=tuple(cfg.ngram_range), n_features=2**20, alternate_sign=False, norm=None
    ).transform(texts)
    vectors = TfidfTransformer().fit_transform(counts).astype(np.float32)
    if len(texts) <= cfg.exact_max_articles:
        return _all_pairs(vectors, cfg)
    candidates = _lsh_candidates(counts, cfg)
    if not candidates:
        return []
    pairs = []
    ordered = sorted(candidates)
    for start in range(0, len(ordered), cfg.chunk_rows):  # bounded memory: a chunk of pairs at a time
        rows, cols = (np.array(side) for side in zip(*ordered[start : start + cfg.chunk_rows]))
        sims = np.asarray(vectors[rows].multiply(vectors[cols]).sum(axis=1)).ravel()
        pairs += [(int(i), int(j), round(float(v), 4)) for i, j, v in zip(rows, cols, sims) if v >= cfg.threshold]
    return pairs


def _all_pairs(vectors, cfg: DedupeConfig) -> list[tuple[int, int, float]]:
    """Every pair, computed in row chunks to bound memory."""
    pairs = []
    for start in range(0, vectors.shape[0], cfg.chunk_rows):
        block = (vectors[start : start + cfg.chunk_rows] @ vectors.T).tocoo()
        for i, j, sim in zip(block.row + start, block.col, block.data):
            if i < j and sim >= cfg.threshold:
                pairs.append((int(i), int(j), round(float(sim), 4)))
    return pairs


def _lsh_candidates(counts, cfg: DedupeConfig) -> set[tuple[int, int]]:
    """Pairs whose n-gram sets MinHash LSH finds similar (seeded, so reproducible).

    The n-grams are the hashed columns HashingVectorizer already computed, so MinHash
    only permutes integers (datasketch's default SHA-1 per shingle costs 20x more).
    """
    lsh = MinHashLSH(threshold=cfg.lsh_threshold, num_perm=cfg.lsh_num_perm)
    candidates: set[tuple[int, int]] = set()
    grams = (counts.indices[counts.indptr[i] : counts.indptr[i + 1]].tolist() for i in range(counts.shape[0]))
    for i, h in enumerate(MinHash.bulk(grams, num_perm=cfg.lsh_num_perm, seed=1, hashfunc=int)):
        candidates.update((j, i) for j in lsh.query(h))
        lsh.insert(i, h)
    return candidates


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
