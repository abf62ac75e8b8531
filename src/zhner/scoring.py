"""Entity scores over character spans under the four SemEval 2013 schemes (strict, exact, partial, type).

Why our own ~100 lines and not the `nervaluate` package: nervaluate 1.2 works on token
indices with inclusive ends and matches predictions greedily in list order, while zhner
compares pipelines with *different* tokenisers (the pre-annotator and a trained model), so
the only common unit is the character; the report also needs the matched pairs themselves
(boundary errors, confusion matrix), which nervaluate does not expose per pair.

Definitions (Segura-Bedmar et al., SemEval 2013 task 9.1; as in nervaluate's README). Each
gold entity gets one outcome per scheme from the predictions that overlap it, each predicted
entity one from the gold entities that overlap it:

- strict:  COR if one has the same boundaries and type, else INC if any overlaps
- exact:   COR if one has the same boundaries (any type), else INC if any overlaps
- partial: COR if one has the same boundaries (any type), else PAR if any overlaps
- type:    COR if one overlapping has the same type, else INC if any overlaps
- no overlap at all: MIS for a gold entity, SPU for a prediction

POS = number of gold entities = COR+INC+PAR+MIS (gold side); ACT = number of predictions =
COR+INC+PAR+SPU (prediction side). P = (COR_pred + 0.5·PAR_pred) / ACT and
R = (COR_gold + 0.5·PAR_gold) / POS; F = 2PR/(P+R). When overlaps are one-to-one (the usual
case) both sides count the same COR and PAR, and these are exactly the SemEval formulas;
scoring each side by its own overlaps keeps the result independent of span order when one
prediction straddles two gold entities. Per label, precision counts predictions with that
label and recall gold entities with that label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

SCHEMES: tuple[str, ...] = ("strict", "exact", "partial", "type")
OUTCOMES: tuple[str, ...] = ("COR", "INC", "PAR", "MIS", "SPU")


class Ent(NamedTuple):
    start: int
    end: int
    label: str


def overlaps(a: Ent, b: Ent) -> bool:
    return a.start < b.end and b.start < a.end


def outcome(ent: Ent, others: Sequence[Ent], scheme: str, *, gold_side: bool) -> str:
    """The outcome of one entity under `scheme`, judged by the entities of the other side."""
    touching = [o for o in others if overlaps(ent, o)]
    if not touching:
        return "MIS" if gold_side else "SPU"
    same_bounds = [o for o in touching if (o.start, o.end) == (ent.start, ent.end)]
    if scheme == "strict":
        return "COR" if any(o.label == ent.label for o in same_bounds) else "INC"
    if scheme == "exact":
        return "COR" if same_bounds else "INC"
    if scheme == "partial":
        return "COR" if same_bounds else "PAR"
    if scheme == "type":
        return "COR" if any(o.label == ent.label for o in touching) else "INC"
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")


def prf(gold: Counter, pred: Counter) -> dict[str, float | int]:
    """P/R/F from the outcome counts of the gold side and of the prediction side."""
    pos, act = sum(gold.values()), sum(pred.values())
    hit_p = pred["COR"] + 0.5 * pred["PAR"]
    hit_r = gold["COR"] + 0.5 * gold["PAR"]
    p = hit_p / act if act else 0.0
    r = hit_r / pos if pos else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "p": p,
        "r": r,
        "f": f,
        "pos": pos,
        "act": act,
        **{k: gold[k] for k in ("COR", "INC", "PAR", "MIS")},
        "SPU": pred["SPU"],
    }


def score(
    gold_docs: Sequence[Sequence[Ent]], pred_docs: Sequence[Sequence[Ent]], labels: Sequence[str]
) -> dict[str, dict]:
    """Micro and per-label figures per scheme: `{scheme: {"micro": {...}, "per_label": {L: {...}}}}`."""
    if len(gold_docs) != len(pred_docs):
        raise ValueError(f"{len(gold_docs)} gold documents but {len(pred_docs)} predicted ones")
    result: dict[str, dict] = {}
    for scheme in SCHEMES:
        gold_counts: dict[str, Counter] = {label: Counter() for label in labels}
        pred_counts: dict[str, Counter] = {label: Counter() for label in labels}
        for gold, pred in zip(gold_docs, pred_docs):
            for ent in gold:
                gold_counts.setdefault(ent.label, Counter())[outcome(ent, pred, scheme, gold_side=True)] += 1
            for ent in pred:
                pred_counts.setdefault(ent.label, Counter())[outcome(ent, gold, scheme, gold_side=False)] += 1
        all_labels = list(dict.fromkeys([*labels, *gold_counts, *pred_counts]))
        result[scheme] = {
            "micro": prf(sum(gold_counts.values(), Counter()), sum(pred_counts.values(), Counter())),
            "per_label": {
                label: prf(gold_counts.get(label, Counter()), pred_counts.get(label, Counter()))
                for label in all_labels
            },
        }
    return result
