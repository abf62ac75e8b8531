"""Export a seeded sample of the silver People's Daily training lines as a spaCy DocBin.

`zhner bootstrap` trains on these lines (ORG/GPE/LOC from its teacher when configured) in a temporary folder and keeps only the model; the
fine-tuning config (configs/ner.cfg) mixes a sample of the same silver data into the gold
corrections, so it needs them on disk: `corpus/silver.spacy`, rebuilt from the cached corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import spacy

from zhner.io import atomic_open, check_writable
from zhner.pipeline.bootstrap_config import load_bootstrap_config
from zhner.pipeline.corpus import cache_dir
from zhner.pipeline.training_data import load_data, relabel_with_teacher, to_docbin


@dataclass
class SilverExport:
    out: Path
    docs: int
    entities: dict[str, int]
    train_lines: int


def export_silver(
    *, out: Path, limit: int = 5000, config: Path | None = None, seed: int | None = None, force: bool = False
) -> SilverExport:
    """Write `limit` silver lines of bootstrap's train split (never its dev or held-out lines) to `out`."""
    out = Path(out)
    check_writable(out, force)
    cfg = load_bootstrap_config(config)
    data = load_data(cfg)
    if cfg.teacher.use is not None:  # the lines the base was trained on, with the teacher's labels (cached by bootstrap)
        relabel_with_teacher(cfg, data, cache_dir(), lambda _m: None)
    train = [s for s in data.part("train") if s.words]
    rng = random.Random(cfg.seed if seed is None else seed)
    sample = rng.sample(train, min(limit, len(train))) if limit > 0 else train
    db = to_docbin(sample, spacy.blank("zh"), halfwidth_fraction=cfg.ner.halfwidth_fraction, seed=cfg.seed)
    entities: dict[str, int] = {}
    for sent in sample:
        for _, _, label in sent.spans:
            entities[label] = entities.get(label, 0) + 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb") as f:
        f.write(db.to_bytes())
    return SilverExport(out=out, docs=len(db), entities=dict(sorted(entities.items())), train_lines=len(train))
