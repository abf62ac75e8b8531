"""Routing of segments to annotators and the assignment file (no server needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from doccano_helpers import make_task
from zhner.doccano import routing
from zhner.errors import ZhnerError
from zhner.schemas import Task

PEOPLE = ["alice", "bob", "carol"]


def articles(sizes: list[int], prefix: str = "a") -> list[Task]:
    """Articles of the given sizes, one task per segment (ids ARTICLE-SEG-00, as ingest makes them)."""
    return [make_task(f"{prefix}{i}-{j:03d}-00", f"第{i}篇第{j}句在拉萨。", [])
            for i, n in enumerate(sizes) for j in range(n)]  # fmt: skip


def routed(tasks: list[Task], people: list[str], k: int | None, overlap: float, seed: int = 7) -> routing.Assignment:
    plan = routing.Assignment(project="p", seed=seed, per_segment=k, overlap=overlap)
    routing.check_options(people, k, overlap)
    routing.assign(plan, tasks, people)
    return plan


def test_k1_keeps_articles_whole_balances_and_overlaps_the_share() -> None:
    tasks = articles([5, 3, 8, 2, 4, 6, 1, 7, 3, 5])  # 44 segments
    plan = routed(tasks, PEOPLE, 1, 0.2)
    assert list(plan.segments) == [t.meta.segment_id for t in tasks]  # every segment, in push order
    assert Counter(len(u) for u in plan.segments.values()) == {1: 44 - 9, 2: 9}  # round(0.2 * 44) = 9
    assert len(plan.overlap_segments()) == 9
    for art in {t.meta.article_id for t in tasks}:  # the first annotator of every segment: one per article
        firsts = {plan.segments[t.meta.segment_id][0] for t in tasks if t.meta.article_id == art}
        assert len(firsts) == 1, art
    loads = plan.loads(PEOPLE)
    assert sum(loads.values()) == 44 + 9 and max(loads.values()) - min(loads.values()) <= 2
    for sid, users in plan.segments.items():
        assert len(set(users)) == len(users) and set(users) <= set(PEOPLE), sid


def test_same_seed_same_assignment_other_seed_other() -> None:
    tasks = articles([4, 4, 4, 4, 4, 4])
    assert routed(tasks, PEOPLE, 1, 0.25).segments == routed(tasks, PEOPLE, 1, 0.25).segments
    assert routed(tasks, PEOPLE, 1, 0.25).segments != routed(tasks, PEOPLE, 1, 0.25, seed=8).segments


def test_second_push_moves_nothing_and_evens_out_the_load() -> None:
    first = articles([6, 6, 6])
    plan = routed(first, ["alice", "bob"], 1, 0.0)
    before = {sid: list(u) for sid, u in plan.segments.items()}
    # the same file plus new articles, and a third annotator joins
    routing.assign(plan, first + articles([2, 2, 2, 2, 2, 2], prefix="b"), PEOPLE)
    assert {sid: plan.segments[sid] for sid in before} == before
    new = [sid for sid in plan.segments if sid.startswith("b")]
    assert len(new) == 12 and Counter(plan.segments[s][0] for s in new)["carol"] >= 6  # the empty queue fills first


def test_without_k_everyone_gets_everything() -> None:
    plan = routed(articles([2, 3]), ["alice", "bob"], None, 0.0)
    assert all(users == ["alice", "bob"] for users in plan.segments.values())
    assert len(plan.overlap_segments()) == 5


@pytest.mark.parametrize(
    "people, k, overlap, needle",
    [(["alice"], 2, 0.0, "--per-segment 2"), (PEOPLE, 3, 0.1, "--overlap 0.1"), (PEOPLE, None, 0.1, "--overlap 0.1"),
     (PEOPLE, 1, 1.5, "between 0 and 1")],
)  # fmt: skip
def test_impossible_options_are_refused(people: list[str], k: int | None, overlap: float, needle: str) -> None:
    with pytest.raises(ZhnerError) as err:
        routing.check_options(people, k, overlap)
    assert err.value.code == "E324" and needle in str(err.value)


def test_honeypots_same_order_for_everyone_and_share_of_queue(tmp_path: Path) -> None:
    plan = routed(articles([10, 10]), ["alice", "bob"], 1, 0.0)
    traps = [make_task(f"hp{i}-000-00", f"金标{i}在北京。", [(3, 5, "GPE")]) for i in range(5)]
    new = routing.add_honeypots(plan, traps, 0.2, ["alice", "bob"])
    assert new["alice"] == new["bob"] == plan.honeypots.order[:2]  # 0.2 * 10 segments each
    assert plan.honeypots.gold["hp0-000-00"] == [(3, 5, "GPE")]
    path = tmp_path / "a.json"
    routing.save_assignment(path, plan)
    back = routing.load_assignment(path, "p")
    assert back == plan
    with pytest.raises(ZhnerError) as err:
        routing.load_assignment(path, "other")
    assert err.value.code == "E325" and "'p'" in str(err.value)
    path.write_text('{"project": "p", "segments": {"x": "alice"}}\n')
    with pytest.raises(ZhnerError) as err:
        routing.load_assignment(path, "p")
    assert err.value.code == "E325" and "segments.x" in str(err.value)
