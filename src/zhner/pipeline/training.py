"""The build's two trainings, each cached under the work folder by a hash of its inputs: pkuseg on
the train split's words, and the NER by `spacy train` on silver docs."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import spacy

from zhner.config import config_path
from zhner.errors import fail
from zhner.pipeline import corpus as pd_corpus
from zhner.pipeline.bootstrap_config import BootstrapConfig, Log
from zhner.pipeline.segmenter import input_hash, model_info, train_pkuseg
from zhner.pipeline.training_data import Data, to_docbin


def build_segmenter(cfg: BootstrapConfig, data: Data, work: Path, log: Log) -> Path:
    """Train (or reuse) the pkuseg model on the train split, scored on the dev split."""
    train = [" ".join(pd_corpus.words(data.sentences[i])) for i in data.split.train]
    dev = [" ".join(pd_corpus.words(data.sentences[i])) for i in data.split.dev] or train[::20]
    key = input_hash(train, dev, cfg.pkuseg.iterations, cfg.seed)[:16]
    out = work / "pkuseg" / key
    if model_info(out).get("input_sha256", "")[:16] != key:
        log(f"Training pkuseg on {len(train):,} lines, {cfg.pkuseg.iterations} iterations (about 3 min each)")
    started = time.perf_counter()
    train_pkuseg(
        train, out, iterations=cfg.pkuseg.iterations, seed=cfg.seed, test_lines=dev,
        on_iteration=lambda i, f: log(f"pkuseg iteration {i + 1}/{cfg.pkuseg.iterations}: dev F {f:.2f} "
                                      f"({time.perf_counter() - started:.0f} s)"),
    )
    return out


def train_ner(cfg: BootstrapConfig, data: Data, pkuseg_dir: Path, work: Path, log: Log) -> Path:
    """Train the NER with `spacy train` on silver docs; returns the model-best folder (cached)."""
    nlp = spacy.blank("zh")
    train = data.part("train")
    if cfg.ner.train_lines:
        train = train[: cfg.ner.train_lines]
    if data.extra and cfg.teacher.extra_text:
        train = train + data.extra * cfg.teacher.extra_text.repeat
    dev = data.part("dev") or train[:50]
    train_db = to_docbin(train, nlp, halfwidth_fraction=cfg.ner.halfwidth_fraction, seed=cfg.seed)
    dev_db = to_docbin(dev, nlp, halfwidth_fraction=0.0, seed=cfg.seed)
    ner_cfg = config_path(cfg.ner.config)
    if not ner_cfg.exists():
        raise fail("E004", path=ner_cfg)
    h = hashlib.sha256()
    for part in (train_db.to_bytes(), dev_db.to_bytes(), ner_cfg.read_bytes(),
                 json.dumps(cfg.ner.overrides, sort_keys=True).encode(), str(cfg.seed).encode(),
                 model_info(pkuseg_dir).get("input_sha256", "").encode(), spacy.__version__.encode()):
        h.update(hashlib.sha256(part).digest())
    out = work / "ner" / h.hexdigest()[:16]
    best = out / "model-best"
    if (best / "meta.json").exists():
        log(f"NER: reusing {best}")
        return best
    from spacy.cli.train import train as spacy_train  # imported late: pulls in the CLI machinery

    tmp = Path(tempfile.mkdtemp(prefix=".ner-", dir=work))
    try:
        train_db.to_disk(tmp / "train.spacy")
        dev_db.to_disk(tmp / "dev.spacy")
        overrides = {
            "paths.train": str(tmp / "train.spacy"), "paths.dev": str(tmp / "dev.spacy"),
            "paths.pkuseg_model": str(pkuseg_dir), "system.seed": cfg.seed, **cfg.ner.overrides,
        }
        log(f"Training the NER on {len(train):,} silver lines (dev {len(dev):,}); spaCy's table follows")
        spacy_train(ner_cfg, tmp / "output", use_gpu=-1, overrides=overrides)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        (tmp / "output").rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return best
