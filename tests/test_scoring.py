"""zhner.scoring's two exact-span rules, each pinned on one hand-computed case.

The evaluation reports (`score`'s defaults) count every entity of every label; bootstrap's
variant choice and the bench pages (`score_spans`) count each text's spans as a set and only
the labels asked for. One case where both rules bite shows each rule's own figures, so a change
that makes one rule follow the other fails here.
"""

from __future__ import annotations

import pytest

from zhner.scoring import Ent, score, score_spans

LABELS = ["ORG", "GPE", "LOC", "DATE", "QUANTITY"]

# Three texts. Text 1 repeats a gold span (GPE [0,2)), has a label outside LABELS (PER), a
# prediction repeated (ORG [6,9)) whose bounds differ from the gold ORG [6,8); text 2 has one
# spurious DATE; text 3 one missed LOC.
GOLD = [[(0, 2, "GPE"), (0, 2, "GPE"), (3, 5, "PER"), (6, 8, "ORG")], [], [(1, 3, "LOC")]]
PRED = [[(0, 2, "GPE"), (3, 5, "PER"), (6, 9, "ORG"), (6, 9, "ORG")], [(0, 1, "DATE")], []]


def ents(docs: list[list[tuple[int, int, str]]]) -> list[list[Ent]]:
    return [[Ent(*t) for t in doc] for doc in docs]


@pytest.mark.parametrize(
    ("only_labels", "distinct", "cor_gold", "pos", "cor_pred", "act"),
    [
        # the report's rule: gold GPE twice COR, PER COR, ORG INC, LOC MIS; predictions GPE and PER
        # COR, ORG twice INC, DATE SPU. P = 2/5, R = 3/5
        (False, False, 3, 5, 2, 5),
        # sets: one gold GPE, one predicted ORG. P = 2/4, R = 2/4
        (False, True, 2, 4, 2, 4),
        # LABELS only: PER ignored on both sides. P = 1/4, R = 2/4
        (True, False, 2, 4, 1, 4),
        # both (score_spans): GPE the one hit. P = 1/3, R = 1/3
        (True, True, 1, 3, 1, 3),
    ],
)
def test_each_rule_counts_its_own_entities(only_labels, distinct, cor_gold, pos, cor_pred, act) -> None:
    micro = score(ents(GOLD), ents(PRED), LABELS, only_labels=only_labels, distinct=distinct)["strict"]["micro"]
    assert (micro["COR"], micro["pos"], micro["act"]) == (cor_gold, pos, act)
    assert micro["p"] == pytest.approx(cor_pred / act) and micro["r"] == pytest.approx(cor_gold / pos)


def test_the_report_rule_lists_labels_outside_the_scheme() -> None:
    per_label = score(ents(GOLD), ents(PRED), LABELS)["strict"]["per_label"]
    assert list(per_label) == [*LABELS, "PER"]
    assert (per_label["GPE"]["p"], per_label["GPE"]["r"], per_label["GPE"]["pos"]) == (1.0, 1.0, 2)


def test_bootstrap_rule_counts_span_sets_of_the_labels_asked_for() -> None:
    result = score_spans(zip(GOLD, PRED), LABELS)
    assert result["micro"] == {"p": 0.3333, "r": 0.3333, "f": 0.3333, "tp": 1, "fp": 2, "fn": 2}
    assert list(result["per_label"]) == sorted(LABELS)  # every label asked for, found or not
    assert result["per_label"]["ORG"] == {"p": 0.0, "r": 0.0, "f": 0.0, "tp": 0, "fp": 1, "fn": 1}
    assert result["per_label"]["QUANTITY"] == {"p": 0.0, "r": 0.0, "f": 0.0, "tp": 0, "fp": 0, "fn": 0}


def test_bootstrap_rule_without_a_label_list_scores_every_label_met() -> None:
    result = score_spans(zip(GOLD, PRED))
    assert list(result["per_label"]) == ["DATE", "GPE", "LOC", "ORG", "PER"]
    assert result["micro"] == {"p": 0.5, "r": 0.5, "f": 0.5, "tp": 2, "fp": 2, "fn": 2}


def test_both_rules_agree_where_neither_bites() -> None:
    """No repeated span, no label outside the list: the tp/fp/fn are the strict outcome counts."""
    gold = [[(0, 2, "GPE"), (6, 8, "ORG")], [], [(1, 3, "LOC")]]
    pred = [[(0, 2, "GPE"), (6, 9, "ORG")], [(0, 1, "DATE")], []]
    strict = score(ents(gold), ents(pred), LABELS)["strict"]["micro"]
    spans = score_spans(zip(gold, pred), LABELS)["micro"]
    assert (spans["tp"], spans["tp"] + spans["fp"], spans["tp"] + spans["fn"]) == (
        strict["COR"], strict["act"], strict["pos"])  # fmt: skip
    assert spans["f"] == round(strict["f"], 4) == 0.3333


def test_nothing_to_score_gives_zeros() -> None:
    empty = {"p": 0.0, "r": 0.0, "f": 0.0, "tp": 0, "fp": 0, "fn": 0}
    assert score_spans([], ["ORG"]) == {"micro": empty, "per_label": {"ORG": empty}}
    assert score_spans([]) == {"micro": empty, "per_label": {}}
