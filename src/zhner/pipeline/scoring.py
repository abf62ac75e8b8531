"""Exact-span precision, recall and F per label, over character offsets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

Triple = tuple[int, int, str]


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def score_spans(pairs: Iterable[tuple[Iterable[Triple], Iterable[Triple]]], labels: Iterable[str] | None = None) -> dict:
    """Score (gold, predicted) span sets per text; `labels` restricts both sides (others ignored)."""
    keep = set(labels) if labels is not None else None
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for gold, pred in pairs:
        g = {t for t in gold if keep is None or t[2] in keep}
        p = {t for t in pred if keep is None or t[2] in keep}
        for t in g & p:
            tp[t[2]] += 1
        for t in p - g:
            fp[t[2]] += 1
        for t in g - p:
            fn[t[2]] += 1
    names = sorted(keep if keep is not None else set(tp) | set(fp) | set(fn))
    per_label = {label: prf(tp[label], fp[label], fn[label]) for label in names}
    micro = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"micro": micro, "per_label": per_label}
