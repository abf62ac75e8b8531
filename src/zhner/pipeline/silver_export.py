"""Export a seeded sample of the silver lines the base was trained on as a spaCy DocBin.

`zhner bootstrap` trains on these lines (ORG/GPE/LOC from its teacher when configured; the extra text's
lines too) in a temporary folder and keeps only the model; the fine-tuning config (configs/ner.cfg) mixes
a sample of the same silver data into the gold corrections, so it needs them on disk:
`corpus/silver.spacy`, rebuilt from the cached corpus. The sample takes the extra text's lines with the
People's Daily ones: rehearsing only 1998 lines, fine-tuning drifted back towards them and lost on the
news dev set what the base had learned from the modern headlines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import spacy

from zhner.io import atomic_open, check_writable
from zhner.pipeline.bootstrap_config import load_bootstrap_config
from zhner.pipeline.corpus import cache_dir
from zhner.pipeline.training import build_segmenter
from zhner.pipeline import teacher
from zhner.pipeline.training_data import load_data, relabel_with_teacher, to_docbin
from zhner.pipeline.variants import PATTERNS_FACTORY


@dataclass
class SilverExport:
    out: Path
    docs: int
    entities: dict[str, int]
    train_lines: int
    extra_lines: int = 0


def export_silver(
    *, out: Path, limit: int = 5000, config: Path | None = None, seed: int | None = None, force: bool = False,
    extra_text: bool = True,
) -> SilverExport:
    """Write `limit` silver lines of bootstrap's train split and extra text (never its dev or held-out
    lines, nor the dev set's headlines, which the extra text leaves out) to `out`."""
    out = Path(out)
    check_writable(out, force)
    cfg = load_bootstrap_config(config)
    data = load_data(cfg)
    quiet = lambda _m: None  # noqa: E731
    # the lines the base was trained on, with the teacher's labels (cached by bootstrap, as is the segmenter)
    if cfg.teacher.use is not None:
        relabel_with_teacher(cfg, data, cache_dir(), quiet)
    train = [s for s in data.part("train") if s.words]
    texts: list[str] = []
    spans: list = []
    if cfg.teacher.use is not None and extra_text and cfg.teacher.extra_text is not None:
        texts = teacher.extra_lines(cfg.teacher.extra_text, cache_dir(), Path.cwd())
        spans = teacher.teacher_spans(texts, cfg.teacher, cache_dir(), quiet)  # all lines: the cache's key
    rng = random.Random(cfg.seed if seed is None else seed)
    n = len(train) + len(texts)
    picked = rng.sample(range(n), min(limit, n)) if limit > 0 else range(n)
    # only the headlines drawn are segmented and pattern-labelled (every extra line has words), not all 99,000
    drawn = sorted(i - len(train) for i in picked if i >= len(train))
    if drawn:
        pkuseg_dir = build_segmenter(cfg, data, cache_dir(), quiet)
        built = teacher.extra_sentences([texts[i] for i in drawn], [spans[i] for i in drawn], pkuseg_dir,
                                        cfg.teacher.labels, PATTERNS_FACTORY)
        extra = dict(zip(drawn, built, strict=True))
    sample = [train[i] if i < len(train) else extra[i - len(train)] for i in picked]
    db = to_docbin(sample, spacy.blank("zh"), halfwidth_fraction=cfg.ner.halfwidth_fraction, seed=cfg.seed)
    entities: dict[str, int] = {}
    for sent in sample:
        for _, _, label in sent.spans:
            entities[label] = entities.get(label, 0) + 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb") as f:
        f.write(db.to_bytes())
    return SilverExport(out=out, docs=len(db), entities=dict(sorted(entities.items())), train_lines=len(train),
                        extra_lines=len(texts))
