"""What annotators did to the pre-annotations: per label kept, boundary fixed, relabelled,
deleted, added; hence the pre-annotator's real-world precision and recall.

Input is a pulled corrections file: `meta.spans` still holds the pre-annotations as pushed,
`label` the annotator's final spans. A pre-annotated span is matched to at most one final span:
exact match (kept), same boundaries with another label (relabelled), overlapping with the same
label (boundary fixed), overlapping with another label (relabelled); the rest were deleted, and
final spans nothing matched were added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zhner.errors import fail
from zhner.io import read_jsonl
from zhner.schemas import Task

Triple = tuple[int, int, str]
CATEGORIES = ("kept", "boundary_fixed", "relabelled", "deleted", "added")


def _overlap(a: Triple, b: Triple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def classify(pre: Iterable[Triple], post: Iterable[Triple]) -> list[tuple[str, Triple | None, Triple | None]]:
    """(category, pre-annotated span, final span) for every span on either side."""
    pre_left, post_left = sorted(set(pre)), sorted(set(post))
    out: list[tuple[str, Triple | None, Triple | None]] = []
    rules = (
        ("kept", lambda p, q: p == q),
        ("relabelled", lambda p, q: p[:2] == q[:2]),
        ("boundary_fixed", lambda p, q: p[2] == q[2] and _overlap(p, q)),
        ("relabelled", _overlap),
    )
    for category, fits in rules:
        for p in list(pre_left):
            q = next((q for q in post_left if fits(p, q)), None)
            if q is not None:
                out.append((category, p, q))
                pre_left.remove(p)
                post_left.remove(q)
    out += [("deleted", p, None) for p in pre_left] + [("added", None, q) for q in post_left]
    return out


@dataclass
class LabelTally:
    kept: int = 0
    boundary_fixed: int = 0
    relabelled: int = 0
    deleted: int = 0
    added: int = 0
    pre: int = 0  # pre-annotated spans of this label
    final: int = 0  # final spans of this label

    def scores(self) -> dict[str, float | None]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            "precision": ratio(self.kept, self.pre),
            "recall": ratio(self.kept, self.final),
            "precision_partial": ratio(self.kept + self.boundary_fixed, self.pre),
            "recall_partial": ratio(self.kept + self.boundary_fixed, self.final),
        }


@dataclass
class CorrectionsReport:
    records: int
    by_label: dict[str, LabelTally] = field(default_factory=lambda: defaultdict(LabelTally))
    by_annotator: dict[str, LabelTally] = field(default_factory=lambda: defaultdict(LabelTally))
    total: LabelTally = field(default_factory=LabelTally)

    def as_dict(self) -> dict:
        def row(t: LabelTally) -> dict:
            return {**{c: getattr(t, c) for c in CATEGORIES}, "pre": t.pre, "final": t.final, **t.scores()}

        return {
            "records": self.records,
            "total": row(self.total),
            "by_label": {k: row(v) for k, v in sorted(self.by_label.items())},
            "by_annotator": {k: row(v) for k, v in sorted(self.by_annotator.items())},
        }


def tally(tasks: Iterable[Task], annotators: Iterable[str] = ()) -> CorrectionsReport:
    """Tally, per label and per annotator, what happened to each pre-annotated span of `tasks`."""
    wanted = set(annotators)
    report = CorrectionsReport(records=0)
    for task in tasks:
        who = task.meta.annotator or "(collaborative)"
        if wanted and who not in wanted:
            continue
        report.records += 1
        pre = [s.as_triple() for s in task.meta.spans]
        for t in (report.total, report.by_annotator[who]):
            t.pre += len(pre)
            t.final += len(task.label)
        for _, _, label in pre:
            report.by_label[label].pre += 1
        for _, _, label in task.label:
            report.by_label[label].final += 1
        for category, p, q in classify(pre, task.label):
            label = p[2] if p is not None else q[2]  # type: ignore[index]
            for t in (report.total, report.by_annotator[who], report.by_label[label]):
                setattr(t, category, getattr(t, category) + 1)
    return report


def corrections(*, path: Path, annotators: Iterable[str] = ()) -> CorrectionsReport:
    """Tally what happened to each pre-annotated span of a pulled corrections file."""
    wanted = set(annotators)
    report = tally(read_jsonl(path, Task), wanted)
    if report.records == 0:
        raise fail("E318", path=path, reason="no corrected records" + (f" by {', '.join(sorted(wanted))}" if wanted else ""))
    return report
