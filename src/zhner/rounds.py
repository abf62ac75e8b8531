"""Annotation rounds: which segments to annotate next, and the ledger of the rounds so far.

A round picks N segments (or whole articles) from the pool: the segments of `zhner ingest` whose
article is in a pool split (train by default: dev and test articles are held out), less every
segment already annotated (any pulled corrections) or already pushed (an earlier round of the
ledger, or the project itself). Strategies:

- uncertainty: the segments the latest model is least sure of: 1 - the beam's probability of its
  analysis (`zhner preannotate --all-scores`), which the probability mass of "no entity" is for a
  segment where it found nothing, and which bounds each entity's doubt (1 - its score) from above;
- diversity: one representative segment per cluster of the pool (k-means over TF-IDF character
  n-grams reduced by SVD), largest clusters first, so a batch spans the pool's topics;
- mix: the 3k most uncertain segments, clustered into k; the most uncertain one of each cluster;
- random: the control any other strategy must beat.

With `unit="article"` the same scores rank whole articles (mean uncertainty, texts joined), and
articles are taken while they fit in N. Same inputs and seed, same batch. The ledger
(annotations/rounds/PROJECT.json) records every round: its segments, strategy, seed, model and
that model's held-out F; it is how the next round knows what was pushed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhner.errors import fail
from zhner.io import corrected_files, file_safe, read_jsonl_lines, read_regular_file, write_json
from zhner.schemas import Record, Segment, Task, row_meta

Strategy = Literal["uncertainty", "diversity", "mix", "random"]
Unit = Literal["segment", "article"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
UNITS: tuple[str, ...] = get_args(Unit)
SCORED: frozenset[str] = frozenset({"uncertainty", "mix"})  # strategies that need the model's scores
MIX_POOL = 3  # mix: cluster the MIX_POOL·k most uncertain units
LSA_DIMS = 50  # dimensions the TF-IDF vectors are reduced to before k-means
LEDGER_DIR = Path("annotations/rounds")
MAX_LEDGER_BYTES = 200_000_000


# -- the ledger ------------------------------------------------------------------------------------


class RoundEntry(Record):
    """One round of annotations/rounds/PROJECT.json."""

    round: int = Field(ge=1)
    strategy: Strategy
    unit: Unit
    seed: int
    size: int = Field(ge=1, description="segments asked for")
    pool_splits: list[str] = Field(default_factory=lambda: ["train"], description="the splits it picked from")
    segments: list[str] = Field(description="segment ids picked, in document order")
    tasks: str = Field(description="the task file pushed")
    model: str = Field(description="the pipeline that pre-annotated (and scored) the round")
    model_version: str | None = None
    mean_uncertainty: float | None = Field(None, description="over the batch, when the model scored it")
    heldout: str | None = Field(None, description="held-out gold the model was scored on")
    heldout_f: float | None = Field(None, description="strict micro F of `model` on `heldout`")
    created: str
    pushed: bool = False


class Ledger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str
    rounds: list[RoundEntry] = Field(default_factory=list)

    def pushed_ids(self) -> set[str]:
        return {sid for r in self.rounds for sid in r.segments}

    def round_of(self) -> dict[str, int]:
        """segment id → the round that picked it."""
        return {sid: r.round for r in self.rounds for sid in r.segments}


def ledger_path(project: str, folder: Path = LEDGER_DIR) -> Path:
    return Path(folder) / f"{file_safe(project)}.json"


def read_ledger(path: Path, project: str) -> Ledger:
    """The rounds so far (none when the file does not exist yet); E430 when it is not a ledger of `project`."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return Ledger(project=project)
    try:
        ledger = Ledger.model_validate(json.loads(read_regular_file(path, MAX_LEDGER_BYTES)))
    except ValidationError as err:
        e = err.errors()[0]
        raise fail("E430", path=path, reason=f"{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise fail("E430", path=path, reason=f"not JSON ({err})") from None
    if ledger.project != project:
        raise fail("E430", path=path, reason=f"it is the ledger of project {ledger.project!r}, not {project!r}")
    return ledger


def write_ledger(path: Path, ledger: Ledger) -> None:
    write_json(Path(path), ledger.model_dump(mode="json"))


# -- what may not be picked ---------------------------------------------------------------------


class _AnyRecord(BaseModel):
    """A line of a corrections file, read only for its segment id (pulls, copies, raw Doccano exports)."""

    model_config = ConfigDict(extra="allow")


def annotated_ids(paths: Iterable[Path]) -> set[str]:
    """Segment ids of every record in the corrections files or folders `paths`."""
    ids: set[str] = set()
    for path in corrected_files(paths):
        for line, rec in read_jsonl_lines(path, _AnyRecord):
            row = rec.model_dump()
            meta = row_meta(row) or {}
            sid = meta.get("segment_id") or row.get("segment_id")
            if not isinstance(sid, str) or not sid:
                raise fail("E003", path=path, line=line, reason="no meta.segment_id: cannot tell which segment it annotates")
            ids.add(sid)
    return ids


@dataclass
class Pool:
    """The segments a round may pick from, and how many were left out and why."""

    segments: list[Segment]
    total: int = 0
    held_out: int = 0
    excluded: int = 0  # annotated or pushed already
    splits: tuple[str, ...] = ("train",)


def build_pool(
    segments: Iterable[tuple[int, Segment]], *, split_of: Mapping[str, str], pool_splits: Collection[str],
    exclude: Collection[str], path: Path, splits_path: Path,
) -> Pool:  # fmt: skip
    """Segments of pool-split articles that are in no earlier round, annotation or project."""
    pool = Pool(segments=[], splits=tuple(pool_splits))
    for line, seg in segments:
        pool.total += 1
        split = split_of.get(seg.article_id)
        if split is None:
            raise fail("E431", path=path, line=line, segment=seg.id, article=seg.article_id, splits=splits_path)
        if split not in pool_splits:
            pool.held_out += 1
        elif seg.id in exclude:
            pool.excluded += 1
        else:
            pool.segments.append(seg)
    return pool


# -- scores ------------------------------------------------------------------------------------------


def uncertainty(task: Task) -> float | None:
    """How unsure the pre-annotator was of a segment, in [0, 1]; None when the task carries no scores.

    1 - the probability of its analysis (meta.confidence, `preannotate --all-scores`): the chance
    that the right entities are not exactly those it proposed, a missed or changed one included.
    Without it, the most doubtful entity it set (1 - its beam probability).
    """
    if task.meta.confidence is not None:
        return 1.0 - task.meta.confidence
    model = [s.score for s in task.meta.spans if s.source == "model"]
    if not model or any(p is None for p in model):
        return None
    return max(1.0 - p for p in model)  # type: ignore[operator]


# -- selection ---------------------------------------------------------------------------------------


@dataclass
class _Unit:
    segments: list[Segment] = field(default_factory=list)
    score: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)


def _units(segments: Sequence[Segment], unit: str, scores: Mapping[str, float]) -> list[_Unit]:
    groups: dict[str, _Unit] = {}
    for seg in segments:
        key = seg.article_id if unit == "article" else seg.id
        groups.setdefault(key, _Unit()).segments.append(seg)
    for u in groups.values():
        if scores:
            u.score = sum(scores[s.id] for s in u.segments) / len(u.segments)
    return list(groups.values())


def check_options(strategy: str, unit: str) -> None:
    """E432 for a strategy or unit this module does not know."""
    if strategy not in STRATEGIES:
        raise fail("E432", option="--strategy", value=strategy, choices=", ".join(STRATEGIES))
    if unit not in UNITS:
        raise fail("E432", option="--unit", value=unit, choices=", ".join(UNITS))


def select(
    segments: Sequence[Segment], *, n: int, strategy: str, seed: int, unit: str = "segment",
    scores: Mapping[str, float] | None = None,
) -> list[Segment]:  # fmt: skip
    """Pick up to `n` segments of `segments` by `strategy`; returned in the order of `segments`."""
    check_options(strategy, unit)
    scores = scores or {}
    if strategy in SCORED and (missing := [s.id for s in segments if s.id not in scores]):
        raise fail("E433", strategy=strategy, n=len(missing), example=missing[0])
    units = _units(segments, unit, scores if strategy in SCORED else {})
    if not units:
        return []
    k = max(1, min(len(units), round(n * len(units) / len(segments))))  # the units a batch holds, about
    order = _RANKERS[strategy](units, k, random.Random(seed), seed)
    chosen: set[str] = set()
    for i in order:
        if len(chosen) >= n:
            break
        if len(chosen) + len(units[i].segments) <= n or not chosen:
            chosen.update(s.id for s in units[i].segments)
    return [s for s in segments if s.id in chosen]


def _rank_random(units: list[_Unit], k: int, rng: random.Random, seed: int) -> list[int]:
    order = list(range(len(units)))
    rng.shuffle(order)
    return order


def _rank_uncertainty(units: list[_Unit], k: int, rng: random.Random, seed: int) -> list[int]:
    ties = [rng.random() for _ in units]  # equal scores (a pattern-only segment, say) in a seeded order
    return sorted(range(len(units)), key=lambda i: (-units[i].score, ties[i]))


def _rank_diversity(units: list[_Unit], k: int, rng: random.Random, seed: int) -> list[int]:
    """The unit nearest each cluster's centre, biggest clusters first, then the rest at random."""
    labels, dist = _clusters([u.text for u in units], k, seed)
    first = []
    for c in sorted(set(labels), key=lambda c: (-labels.count(c), c)):
        members = [i for i, lab in enumerate(labels) if lab == c]
        first.append(min(members, key=lambda i: (dist[i], i)))
    taken = set(first)
    return first + [i for i in _rank_random(units, k, rng, seed) if i not in taken]


def _rank_mix(units: list[_Unit], k: int, rng: random.Random, seed: int) -> list[int]:
    """The most uncertain unit of each cluster of the MIX_POOL·k most uncertain, then by uncertainty."""
    by_score = _rank_uncertainty(units, k, rng, seed)
    top = by_score[: min(len(units), MIX_POOL * k)]
    labels, _ = _clusters([units[i].text for i in top], k, seed)
    best: dict[int, int] = {}
    for i, lab in zip(top, labels):  # `top` is in descending uncertainty: the first of a cluster is its best
        best.setdefault(lab, i)
    taken = set(best.values())
    return [i for i in by_score if i in taken] + [i for i in by_score if i not in taken]


def _clusters(texts: Sequence[str], k: int, seed: int) -> tuple[list[int], list[float]]:
    """k-means labels of `texts` (TF-IDF of character 1–2-grams, LSA to ≤ 50 dimensions) and each one's
    distance to its centre."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    k = min(k, len(texts))
    if k <= 1 or len(texts) <= 2:
        return [0] * len(texts), [0.0] * len(texts)
    # n-grams seen once say nothing about what texts share, and make the SVD slow on a large pool
    min_df = 2 if len(texts) >= 100 else 1
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=min_df).fit_transform(texts)
    dims = min(LSA_DIMS, tfidf.shape[1] - 1, len(texts) - 1)
    vectors = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(tfidf)) if dims >= 2 else tfidf
    # restarts escape poor local optima, which matter most on small pools; on large ones they cost seconds each
    km = KMeans(n_clusters=k, n_init=10 if len(texts) <= 2000 else 3, random_state=seed).fit(vectors)
    dist = km.transform(vectors)
    return [int(c) for c in km.labels_], [float(dist[i, c]) for i, c in enumerate(km.labels_)]


_RANKERS = {"random": _rank_random, "uncertainty": _rank_uncertainty, "diversity": _rank_diversity, "mix": _rank_mix}


def latest_model(fine_tuned: Path, base: str | Path) -> str:
    """The fine-tuned model once it exists, else the base: what pre-annotates the next round."""
    return str(fine_tuned) if (Path(fine_tuned) / "config.cfg").is_file() else str(base)
