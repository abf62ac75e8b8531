"""Which annotator gets which segment, and the assignment file that remembers it.

`assign` gives each new segment to `per_segment` annotators (K) and a share `overlap` of them to
one more, for agreement. Articles are dealt whole, largest first, each to the K annotators with
the fewest segments so far (what they already hold counts), so queues stay balanced and an
annotator reads an article from start to end; each overlap segment then goes to the least loaded
annotator who does not have it yet. Ties are broken by a permutation drawn from `seed`, so the
same file, annotators and seed give the same assignment. Segments already assigned never move:
a later push only deals the new ones. Without K every annotator gets every segment.

Honeypots are known-answer segments mixed into each queue: `share` of an annotator's segments,
the same honeypots in the same seeded order for everyone, so their scores compare.

The file (annotations/assignments/PROJECT.json) is written before anything is uploaded, so a push
cut short is finished by the next one with the same assignment.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, ValidationError

from zhner.config import Strict
from zhner.errors import fail
from zhner.io import read_lines, write_json
from zhner.schemas import Task

Triple = tuple[int, int, str]


class Honeypots(Strict):
    share: float = 0.0
    gold: dict[str, list[Triple]] = {}  # honeypot segment id → its gold spans
    order: list[str] = []  # the order in which every annotator gets them


class Assignment(Strict):
    project: str
    seed: int = 0
    per_segment: int | None = None  # None: every annotator gets every segment
    overlap: float = 0.0
    segments: dict[str, list[str]] = {}  # segment id → its annotators, in push order
    honeypots: Honeypots = Field(default_factory=Honeypots)
    given: dict[str, list[str]] = {}  # annotator → the honeypots in their queue

    def queue(self, user: str) -> list[str]:
        """The (non-honeypot) segments routed to `user`, in push order."""
        return [sid for sid, users in self.segments.items() if user in users]

    def overlap_segments(self) -> list[str]:
        """Segments routed to two or more annotators: those agreement is computed on."""
        return [sid for sid, users in self.segments.items() if len(users) > 1]

    def loads(self, annotators: Iterable[str]) -> Counter:
        load = Counter({a: 0 for a in annotators})
        for users in self.segments.values():
            load.update(u for u in users if u in load)
        return load


def load_assignment(path: Path, project: str) -> Assignment:
    """The assignment file of `project`, or an empty assignment when there is none yet."""
    if not Path(path).exists():
        return Assignment(project=project)
    found = read_assignment(path)
    if found.project != project:
        raise fail("E325", path=path, reason=f"it is the assignment of project {found.project!r}, not {project!r}")
    return found


def read_assignment(path: Path) -> Assignment:
    """An existing assignment file, checked."""
    text = "".join(line for _, line in read_lines(Path(path)))
    try:
        return Assignment.model_validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        raise fail("E325", path=path, reason=f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def save_assignment(path: Path, assignment: Assignment) -> None:
    write_json(Path(path), assignment.model_dump(mode="json"))


def check_options(annotators: list[str], per_segment: int | None, overlap: float) -> None:
    """E324 for routing options that cannot be met."""
    if per_segment is not None and not 1 <= per_segment <= len(annotators):
        raise fail("E324", what=f"--per-segment {per_segment}", reason=f"needs 1 to {len(annotators)} (the --annotator count)")
    if not 0 <= overlap <= 1:
        raise fail("E324", what=f"--overlap {overlap}", reason="a share between 0 and 1")
    if overlap and (per_segment is None or per_segment >= len(annotators)):
        reason = "needs --per-segment below the number of annotators (a segment gets one more annotator)"
        raise fail("E324", what=f"--overlap {overlap}", reason=reason)


def assign(assignment: Assignment, tasks: list[Task], annotators: list[str]) -> None:
    """Route the segments of `tasks` (see the module docstring); updates `assignment.segments`."""
    if assignment.per_segment is None:  # every annotator gets every segment of this push
        for task in tasks:
            users = assignment.segments.setdefault(task.meta.segment_id, [])
            users.extend(a for a in annotators if a not in users)
        return
    new = [t for t in tasks if t.meta.segment_id not in assignment.segments]
    if not new:
        return
    rng = random.Random(f"{assignment.seed}/{len(assignment.segments)}")
    rank = {a: i for i, a in enumerate(rng.sample(sorted(annotators), len(annotators)))}
    load = assignment.loads(annotators)

    def least_loaded(k: int, exclude: Iterable[str] = ()) -> list[str]:
        candidates = sorted((a for a in annotators if a not in set(exclude)), key=lambda a: (load[a], rank[a]))
        return candidates[:k]

    articles: dict[str, list[str]] = defaultdict(list)
    for task in new:
        articles[task.meta.article_id].append(task.meta.segment_id)
    order = rng.sample(sorted(articles), len(articles))
    order.sort(key=lambda art: -len(articles[art]))  # stable: equal sizes keep the seeded order
    routed: dict[str, list[str]] = {}
    for art in order:
        users = least_loaded(assignment.per_segment)
        for sid in articles[art]:
            routed[sid] = list(users)
        load.update({u: len(articles[art]) for u in users})
    n_extra = round(assignment.overlap * len(new))
    for sid in sorted(rng.sample(sorted(routed), n_extra), key=list(routed).index):
        (extra,) = least_loaded(1, exclude=routed[sid])
        routed[sid].append(extra)
        load[extra] += 1
    for task in new:  # push order
        assignment.segments[task.meta.segment_id] = routed[task.meta.segment_id]


def add_honeypots(assignment: Assignment, honeypots: list[Task], share: float, annotators: list[str]) -> dict[str, list[str]]:
    """Record the honeypots' gold and give each annotator theirs; returns annotator → new honeypot ids."""
    hp = assignment.honeypots
    hp.share = share
    fresh = [t for t in honeypots if t.meta.segment_id not in hp.gold]
    for task in fresh:
        hp.gold[task.meta.segment_id] = [tuple(s) for s in task.label]
    rng = random.Random(f"{assignment.seed}/honeypots/{len(hp.order)}")
    hp.order.extend(rng.sample([t.meta.segment_id for t in fresh], len(fresh)))
    new: dict[str, list[str]] = {}
    for user in annotators:
        given = assignment.given.setdefault(user, [])
        want = round(share * len(assignment.queue(user)))
        todo = [h for h in hp.order if h not in given][: max(0, want - len(given))]
        given.extend(todo)
        new[user] = todo
    return new


def mix(rows: list, extra: list, seed: str) -> list:
    """`rows` with the `extra` items put at seeded random places (honeypots among real segments)."""
    rng = random.Random(seed)
    out = list(rows)
    for item in extra:
        out.insert(rng.randint(0, len(out)), item)
    return out
