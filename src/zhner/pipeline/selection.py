"""How bootstrap scores its variants: exact spans against silver lines, or against gold segments
(`--select-on`) that choose the variant instead; the held-out split never chooses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language

from zhner.config import label_names
from zhner.errors import fail
from zhner.io import read_jsonl, read_splits
from zhner.pipeline.silver import SilverSentence
from zhner.schemas import Task
from zhner.scoring import score_spans

HELD_OUT_SPLIT = "test"  # its articles are scored, never used to choose anything


def evaluate(nlp: Language, sentences: Sequence[SilverSentence], *, batch_size: int = 256) -> dict:
    """Per-label exact-span P/R/F of `nlp` against silver (or gold) character spans."""
    return score_pipeline(nlp, [s.text for s in sentences], [s.char_spans() for s in sentences], batch_size)


def score_pipeline(nlp: Language, texts: Sequence[str], golds: Sequence[Iterable[tuple[int, int, str]]],
                   batch_size: int = 256) -> dict:  # fmt: skip
    """Exact-span P/R/F of the entities `nlp` finds in `texts` against `golds`, per label."""
    docs = nlp.pipe(texts, batch_size=batch_size)
    pairs = [(gold, [(e.start_char, e.end_char, e.label_) for e in doc.ents]) for gold, doc in zip(golds, docs, strict=True)]
    return score_spans(pairs, label_names())


@dataclass(frozen=True)
class GoldSelection:
    """Gold segments of one split (the seeds' dev article) that choose the variant instead of silver lines."""

    path: Path
    split: str
    texts: tuple[str, ...]
    spans: tuple[tuple[tuple[int, int, str], ...], ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.split, self.texts, self.spans], ensure_ascii=False).encode()).hexdigest()

    def describe(self) -> str:
        which = "all segments" if self.split == "all" else f"{self.split!r} articles"
        return f"{len(self.texts)} gold segments ({sum(map(len, self.spans))} spans) of {which} in {self.path}"


def load_gold_selection(gold: Path, splits: Path | None, split: str = "dev") -> GoldSelection:
    """The gold tasks of `gold` whose article `splits` (corpus/splits.json) puts in `split`; every task of
    `gold` when `splits` is None (a dev set such as annotations/gold/dev_news.jsonl)."""
    if splits is None:
        tasks = list(read_jsonl(gold, Task))
        if not tasks:
            raise fail("E208", path=gold, split="all", splits="(no splits: the whole file)")
        return GoldSelection(Path(gold), "all", tuple(t.text for t in tasks),
                             tuple(tuple(tuple(s) for s in t.label) for t in tasks))  # fmt: skip
    if not Path(splits).exists():
        raise fail("E004", path=splits)
    split_of = read_splits(splits).articles  # duplicates are not chosen on
    tasks = [t for t in read_jsonl(gold, Task) if split_of.get(t.meta.article_id) == split]
    if not tasks:
        raise fail("E208", path=gold, split=split, splits=splits)
    return GoldSelection(Path(gold), split, tuple(t.text for t in tasks),
                         tuple(tuple(tuple(s) for s in t.label) for t in tasks))  # fmt: skip
