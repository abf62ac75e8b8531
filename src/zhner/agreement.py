"""Inter-annotator agreement on doubly annotated segments, and the adjudication file.

Input is a pulled corrections file (one Task per segment and annotator, `meta.annotator`). For
each pair of annotators: span F1 per label, strict (same start, end, label) and partial (same
label, overlapping, matched one to one), and Cohen's kappa over the per-character tags (a
character is a token in Chinese). Segments where annotators differ become Task records an
approver can push back into Doccano: the spans all agree on as `label`, every candidate in
`meta.spans` with the annotator as `source`.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from zhner.errors import fail
from zhner.io import read_jsonl
from zhner.schemas import Span, Task

Triple = tuple[int, int, str]
ALL = "ALL"


@dataclass
class Counts:
    matched: int = 0
    a: int = 0
    b: int = 0

    @property
    def f1(self) -> float | None:
        return 2 * self.matched / (self.a + self.b) if self.a + self.b else None


@dataclass
class PairAgreement:
    a: str
    b: str
    segments: int = 0
    strict: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    partial: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    kappa: float | None = None

    def as_dict(self) -> dict:
        def table(counts: dict[str, Counts]) -> dict:
            return {k: {"f1": c.f1, "matched": c.matched, self.a: c.a, self.b: c.b} for k, c in sorted(counts.items())}

        return {"a": self.a, "b": self.b, "segments": self.segments, "kappa_char": self.kappa,
                "strict": table(self.strict), "partial": table(self.partial)}  # fmt: skip


@dataclass
class AgreementReport:
    segments: int
    doubly_annotated: int
    disagreements: int
    pairs: list[PairAgreement]

    def as_dict(self) -> dict:
        return {
            "segments": self.segments,
            "doubly_annotated": self.doubly_annotated,
            "disagreements": self.disagreements,
            "pairs": [p.as_dict() for p in self.pairs],
        }


def group_by_segment(tasks: Iterable[Task], annotators: Iterable[str] = ()) -> dict[str, dict[str, Task]]:
    """segment id → annotator → task (the wanted annotators only, when any are named)."""
    wanted = set(annotators)
    grouped: dict[str, dict[str, Task]] = defaultdict(dict)
    for task in tasks:
        who = task.meta.annotator
        if who is None or (wanted and who not in wanted):
            continue
        grouped[task.meta.segment_id][who] = task
    return grouped


def match_partial(a: list[Triple], b: list[Triple]) -> list[tuple[Triple, Triple]]:
    """One-to-one pairs of same-label overlapping spans, exact matches first."""
    pairs = [(x, x) for x in set(a) & set(b)]
    rest_a = sorted(set(a) - set(b))
    rest_b = sorted(set(b) - set(a))
    for x in rest_a:
        for y in rest_b:
            if x[2] == y[2] and x[0] < y[1] and y[0] < x[1]:
                pairs.append((x, y))
                rest_b.remove(y)
                break
    return pairs


def char_tags(text: str, spans: list[Triple]) -> list[str]:
    tags = ["O"] * len(text)
    for start, end, label in spans:
        tags[start:end] = [label] * (end - start)
    return tags


def compare_pair(pair: PairAgreement, text: str, a: list[Triple], b: list[Triple]) -> tuple[list[str], list[str]]:
    """Add one segment's counts to `pair`; returns the per-character tags for kappa."""
    pair.segments += 1
    for label in {s[2] for s in a} | {s[2] for s in b} | {ALL}:
        sa = [s for s in a if label in (ALL, s[2])]
        sb = [s for s in b if label in (ALL, s[2])]
        for table, matched in ((pair.strict, len(set(sa) & set(sb))), (pair.partial, len(match_partial(sa, sb)))):
            table[label].matched += matched
            table[label].a += len(sa)
            table[label].b += len(sb)
    return char_tags(text, a), char_tags(text, b)


def kappa(tags_a: list[str], tags_b: list[str]) -> float | None:
    if not tags_a:
        return None
    if tags_a == tags_b:
        return 1.0  # sklearn answers nan when both sides use one tag only
    return float(cohen_kappa_score(tags_a, tags_b))


def agreement(
    *, path: Path, annotators: Iterable[str] = (), segments: Iterable[str] | None = None
) -> tuple[AgreementReport, list[Task]]:
    """Pairwise agreement over the segments two or more annotators labelled (only `segments`, the
    routed overlap, when given), and the adjudication tasks."""
    grouped = group_by_segment(read_jsonl(path, Task), annotators)
    if segments is not None:
        wanted = set(segments)
        grouped = {sid: by_user for sid, by_user in grouped.items() if sid in wanted}
    pairs: dict[tuple[str, str], PairAgreement] = {}
    tags: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    adjudication: list[Task] = []
    doubly = 0
    for segment_id in sorted(grouped):
        by_user = grouped[segment_id]
        if len(by_user) < 2:
            continue
        doubly += 1
        users = sorted(by_user)
        for ua, ub in itertools.combinations(users, 2):
            pair = pairs.setdefault((ua, ub), PairAgreement(ua, ub))
            ta, tb = compare_pair(pair, by_user[ua].text, list(by_user[ua].label), list(by_user[ub].label))
            tags[(ua, ub)][0].extend(ta)
            tags[(ua, ub)][1].extend(tb)
        if len({tuple(sorted(by_user[u].label)) for u in users}) > 1:
            adjudication.append(adjudication_task(by_user))
    if not grouped:
        raise fail("E318", path=path, reason="no record carries meta.annotator: pull an individual-mode project")
    for key, pair in pairs.items():
        pair.kappa = kappa(*tags[key])
    report = AgreementReport(len(grouped), doubly, len(adjudication), [pairs[k] for k in sorted(pairs)])
    return report, adjudication


def adjudication_task(by_user: dict[str, Task]) -> Task:
    """A task for the approver: agreed spans as labels, each annotator's spans as candidates."""
    users = sorted(by_user)
    first = by_user[users[0]]
    agreed = set(first.label).intersection(*(set(by_user[u].label) for u in users[1:]))
    candidates = [
        Span(start=s, end=e, label=lab, source=u) for u in users for s, e, lab in sorted(by_user[u].label)
    ]
    meta = first.meta.model_copy(
        update={"spans": candidates, "model": "adjudication", "model_version": "+".join(users),
                "annotator": None, "doccano_id": None}
    )  # fmt: skip
    return Task(text=first.text, label=sorted(agreed), meta=meta)
