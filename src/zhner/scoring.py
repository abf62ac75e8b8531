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

The one home of exact-span scoring: `score` writes the evaluation reports, and `score_spans`
gives the strict scheme as tp/fp/fn (bootstrap's variant choice, the bench pages). Where the
two rules differ they are parameters of `score` (`only_labels`, `distinct`), not two codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import NamedTuple

SCHEMES: tuple[str, ...] = ("strict", "exact", "partial", "type")
OUTCOMES: tuple[str, ...] = ("COR", "INC", "PAR", "MIS", "SPU")
Triple = tuple[int, int, str]


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
    gold_docs: Sequence[Sequence[Ent]], pred_docs: Sequence[Sequence[Ent]], labels: Sequence[str], *,
    schemes: Sequence[str] = SCHEMES, only_labels: bool = False, distinct: bool = False,
) -> dict[str, dict]:
    """Micro and per-label figures per scheme: `{scheme: {"micro": {...}, "per_label": {L: {...}}}}`.

    The report's rule (the defaults): every entity counts, `labels` are listed first and any other
    label met is added. `only_labels`: entities of other labels are ignored on both sides.
    `distinct`: a span repeated in one document counts once (each document's spans as a set).
    """
    if len(gold_docs) != len(pred_docs):
        raise ValueError(f"{len(gold_docs)} gold documents but {len(pred_docs)} predicted ones")
    gold_docs, pred_docs = (_kept(docs, labels if only_labels else None, distinct) for docs in (gold_docs, pred_docs))
    result: dict[str, dict] = {}
    for scheme in schemes:
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


def _kept(docs: Sequence[Sequence[Ent]], labels: Sequence[str] | None, distinct: bool) -> list[list[Ent]]:
    """Each document's entities of `labels` (all when None), each span once when `distinct`."""
    keep = None if labels is None else set(labels)
    kept = [[e for e in doc if keep is None or e.label in keep] for doc in docs]
    return [list(dict.fromkeys(doc)) for doc in kept] if distinct else kept


def score_spans(pairs: Iterable[tuple[Iterable[Triple], Iterable[Triple]]], labels: Iterable[str] | None = None) -> dict:
    """Strict-scheme P/R/F of (gold, predicted) span sets per text, as tp/fp/fn and rounded to 4 places.

    Bootstrap's variant choice and the bench pages use this rule: spans are sets per text, and
    `labels` restricts both sides (other labels ignored; None: every label met, listed sorted).
    """
    gold_docs: list[list[Ent]] = []
    pred_docs: list[list[Ent]] = []
    for gold, pred in pairs:
        gold_docs.append([Ent(*t) for t in gold])
        pred_docs.append([Ent(*t) for t in pred])
    names = sorted(set(labels)) if labels is not None else []
    strict = score(gold_docs, pred_docs, names, schemes=("strict",), only_labels=labels is not None, distinct=True)
    per_label = strict["strict"]["per_label"]
    return {"micro": _tp_fp_fn(strict["strict"]["micro"]),
            "per_label": {label: _tp_fp_fn(per_label[label]) for label in sorted(per_label)}}


def _tp_fp_fn(figures: dict) -> dict[str, float | int]:
    """Strict figures of distinct spans as tp/fp/fn: there a prediction is COR exactly when the
    gold span it equals is, so both sides count the same COR (tp)."""
    tp = figures["COR"]
    return {"p": round(figures["p"], 4), "r": round(figures["r"], 4), "f": round(figures["f"], 4),
            "tp": tp, "fp": figures["act"] - tp, "fn": figures["pos"] - tp}
