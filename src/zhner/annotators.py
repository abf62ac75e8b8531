"""Per annotator: how they treat the pre-annotations, and how right they are on honeypots.

Input is a pull: the corrections file (one Task per segment and annotator; `meta.spans` holds
the pre-annotations as pushed, `label` the annotator's final spans) and the honeypots file beside
it (the same records for the known-answer segments), plus the honeypots' gold spans (kept in the
assignment file at push). On real segments, each pre-annotated span is matched as `zhner
corrections` does: kept, boundary fixed, relabelled, deleted, and final spans nothing matched
were added. On honeypots: strict span P/R/F against the gold, and how many of the shown
pre-annotations that the gold does not have (wrong ones) the annotator left in place.

Rates: kept and deleted per pre-annotated span, added per final span, acceptance per
pre-annotated segment (returned exactly as shown), wrong accepted per wrong span shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zhner.corrections import LabelTally, classify
from zhner.errors import fail
from zhner.io import read_jsonl
from zhner.schemas import Task

Triple = tuple[int, int, str]


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


@dataclass
class AnnotatorScores:
    annotator: str
    segments: int = 0
    spans: LabelTally = field(default_factory=LabelTally)  # real segments' spans, as `zhner corrections` counts them
    pre_segments: int = 0  # real segments shown with at least one pre-annotation
    accepted_segments: int = 0  # … returned exactly as shown
    honeypots: int = 0
    hp_matched: int = 0
    hp_final: int = 0
    hp_gold: int = 0
    wrong_shown: int = 0  # pre-annotations on honeypots that the gold does not have
    wrong_accepted: int = 0  # … left in place by the annotator

    def rates(self) -> dict[str, float | None]:
        p, r = _ratio(self.hp_matched, self.hp_final), _ratio(self.hp_matched, self.hp_gold)
        t = self.spans
        return {
            "kept_rate": _ratio(t.kept, t.pre),
            "deleted_rate": _ratio(t.deleted, t.pre),
            "added_rate": _ratio(t.added, t.final),
            "acceptance_rate": _ratio(self.accepted_segments, self.pre_segments),
            "honeypot_precision": p,
            "honeypot_recall": r,
            "honeypot_f": _ratio(2 * self.hp_matched, self.hp_final + self.hp_gold),
            "wrong_accepted_rate": _ratio(self.wrong_accepted, self.wrong_shown),
        }

    def as_dict(self) -> dict:
        return {**asdict(self), **self.rates()}


def score_segment(scores: AnnotatorScores, task: Task) -> None:
    """Add one corrected real segment."""
    pre = sorted({s.as_triple() for s in task.meta.spans})
    final = sorted(set(task.label))
    scores.segments += 1
    scores.spans.pre += len(pre)
    scores.spans.final += len(final)
    for category, _, _ in classify(pre, final):
        setattr(scores.spans, category, getattr(scores.spans, category) + 1)
    if pre:
        scores.pre_segments += 1
        scores.accepted_segments += pre == final


def score_honeypot(scores: AnnotatorScores, task: Task, gold: list[Triple]) -> None:
    """Add one honeypot: strict matches against the gold, and wrong pre-annotations left in place."""
    final, truth = set(task.label), {tuple(s) for s in gold}
    shown = {s.as_triple() for s in task.meta.spans}
    scores.honeypots += 1
    scores.hp_matched += len(final & truth)
    scores.hp_final += len(final)
    scores.hp_gold += len(truth)
    wrong = shown - truth
    scores.wrong_shown += len(wrong)
    scores.wrong_accepted += len(wrong & final)


def annotator_report(
    *, corrected: Path, honeypots: Path | None = None, gold: dict[str, list[Triple]] | None = None
) -> dict[str, AnnotatorScores]:
    """Scores per annotator from a pull (corrections, and honeypots with their gold)."""
    report: dict[str, AnnotatorScores] = {}

    def of(task: Task) -> AnnotatorScores:
        who = task.meta.annotator or "(collaborative)"
        return report.setdefault(who, AnnotatorScores(who))

    for task in read_jsonl(corrected, Task):
        score_segment(of(task), task)
    if honeypots is not None:
        gold = gold or {}
        missing: dict[str, int] = defaultdict(int)
        for task in read_jsonl(honeypots, Task):
            if task.meta.segment_id not in gold:
                missing[task.meta.segment_id] += 1
                continue
            score_honeypot(of(task), task, gold[task.meta.segment_id])
        if missing:
            raise fail("E318", path=honeypots, reason=f"no gold for honeypot {sorted(missing)[0]}: pass the assignment file it was pushed with")
    if not report:
        raise fail("E318", path=corrected, reason="no corrected records")
    return dict(sorted(report.items()))
