"""Learning curve: train on 25/50/75/100 % of the training documents, score each model on the test ones.

Answers "does more annotation still help?": if F still rises from 75 % to 100 %, annotating
more articles is likely worth it. Subsets are nested (each contains the smaller ones) and
drawn in a seeded order, so two runs on the same data train on the same documents.
When the config trains on the dev documents too (`train_on_dev`, configs/ner.cfg), the parts
are cut from train and dev pooled, so the 100 % step has exactly the main model's data.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import spacy
from spacy import util
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_nlp
from thinc.api import ConfigValidationError, require_gpu

from zhner.config import load_labels
from zhner.errors import fail
from zhner.evaluate import doc_ents, read_gold
from zhner.io import atomic_open, check_writable, write_json, write_text
from zhner.mixed_corpus import last_model_if_trained_on_dev, trains_on_dev
from zhner.nlp import load_pipeline
from zhner.scoring import SCHEMES, score

FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
CURVE_FILES = ("curve.json", "curve.md", "curve.png")


def read_docbin(path: Path) -> DocBin:
    path = Path(path)
    if not path.exists():
        raise fail("E004", path=path)
    try:
        return DocBin(store_user_data=True).from_disk(path)
    except (ValueError, KeyError, TypeError) as err:
        raise fail("E402", path=path, reason=err) from None


def nested_subsets(n: int, fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Document indices for each fraction: a seeded order cut at ceil(fraction·n), so subsets nest."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[: max(1, math.ceil(f * n))]) for f in fractions]


def train_once(
    config: Path,
    train: Path,
    dev: Path,
    out: Path,
    *,
    overrides: Mapping[str, Any],
    use_gpu: int,
    percent: int,
    last: bool = False,
) -> Path:
    """Train one pipeline with spaCy's own loop (as `spacy train` does) and return the model to score.

    That is model-best, unless `last` or the config trains on the dev documents: then model-last.
    """
    log = out / "train.log"
    out.mkdir(parents=True, exist_ok=True)
    all_overrides = {**overrides, "paths.train": str(train), "paths.dev": str(dev)}
    # a config's zhner_patterns comes from the spacy_factories entry point (pyproject.toml): no import needed
    if use_gpu >= 0:
        try:
            require_gpu(use_gpu)  # as `spacy train --gpu-id` does; init_nlp alone stays on the CPU
        except (ValueError, ImportError) as err:
            raise fail("E422", gpu=use_gpu, reason=str(err).splitlines()[0]) from None
    with log.open("w", encoding="utf-8") as stream:
        try:
            cfg = util.load_config(config, overrides=all_overrides, interpolate=False)
            nlp = init_nlp(cfg, use_gpu=use_gpu)
            train_nlp(nlp, out, use_gpu=use_gpu, stdout=stream, stderr=stream)
        except (ConfigValidationError, ValueError, OSError) as err:
            reason = str(err).strip().splitlines()
            raise fail("E421", percent=percent, reason=" ".join(reason[:3]) or type(err).__name__) from None
    return out / "model-last" if last else last_model_if_trained_on_dev(cfg, out)


def train_curve(
    *,
    config: Path,
    train: Path,
    dev: Path,
    test: Path,
    out: Path,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    use_gpu: int = -1,
    force: bool = False,
    on_step: Callable[[dict], None] | None = None,
) -> dict:
    """Train one model per fraction of `train`, score each on `test`; write curve.json/md/png to `out`."""
    config, out = Path(config), Path(out)
    if not config.exists():
        raise fail("E004", path=config)
    for name in CURVE_FILES:
        check_writable(out / name, force)
    fractions = sorted(set(fractions))
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise fail("E005", path="--fractions", reason=f"fractions must be in (0, 1], got {fractions}")
    scheme = load_labels()
    labels = list(scheme.labels)
    gold = read_gold(Path(test), scheme)
    train_bin = read_docbin(train)
    dev_bin = read_docbin(dev)  # fail early on a bad dev file rather than after the first training
    vocab = spacy.blank("zh").vocab
    docs = list(train_bin.get_docs(vocab))
    overrides = dict(overrides or {})
    pooled = trains_on_dev(util.load_config(config, overrides=overrides, interpolate=False))
    if pooled:  # the parts are cut from train + dev; the reader must not add dev a second time
        docs += list(dev_bin.get_docs(vocab))
        overrides["corpora.train.train_on_dev"] = False
    if len(docs) < len(fractions):
        raise fail("E420", path=train, n=len(docs), need=len(fractions))

    steps = []
    with tempfile.TemporaryDirectory(prefix="zhner-curve-") as tmp:
        for fraction, indices in zip(fractions, nested_subsets(len(docs), fractions, seed)):
            subset = Path(tmp) / f"train-{fraction:g}.spacy"
            DocBin(docs=[docs[i] for i in indices], store_user_data=True).to_disk(subset)
            percent = round(100 * fraction)
            started = time.perf_counter()
            model_dir = train_once(
                config,
                subset,
                Path(dev),
                Path(tmp) / f"model-{percent}",
                overrides=overrides,
                use_gpu=use_gpu,
                percent=percent,
                last=pooled,  # the dev documents are in the parts: model-best would be chosen on seen data
            )
            seconds = time.perf_counter() - started
            nlp = load_pipeline(model_dir)
            pred = [doc_ents(d, scheme) for d in nlp.pipe([g.text for g in gold])]
            scores = score([g.ents for g in gold], pred, labels)
            step = {
                "fraction": fraction,
                "docs": len(indices),
                "model": model_dir.name,
                **{s: {k: scores[s]["micro"][k] for k in ("p", "r", "f")} for s in SCHEMES},
                "per_label_f": {label: scores["strict"]["per_label"][label]["f"] for label in labels},
                "train_seconds": seconds,
            }
            steps.append(step)
            if on_step:
                on_step(step)
    result = {
        "config": str(config),
        "train": str(train),
        "test": str(test),
        "dev_pooled_into_train": pooled,
        "train_docs": len(docs),
        "test_docs": len(gold),
        "test_entities": sum(len(g.ents) for g in gold),
        "seed": seed,
        "overrides": overrides,
        "steps": steps,
    }
    write_json(out / "curve.json", result)
    write_text(out / "curve.md", render_curve_markdown(result))
    plot_curve(result, out / "curve.png")
    return result


def curve_noise(result: dict) -> float:
    """The F change that two test entities make, about: smaller steps are no evidence either way."""
    n = result.get("test_entities") or 0
    return 2 / n if n else 0.005


def render_curve_markdown(result: dict) -> str:
    lines = [
        "# Learning curve",
        "",
        f"`{result['config']}` trained on nested parts of `{result['train']}`"
        + (" and the dev documents, pooled" if result.get("dev_pooled_into_train") else "")
        + f" ({result['train_docs']} documents), "
        f"scored on `{result['test']}` ({result['test_docs']} documents). Figures in %.",
        "",
        "| training data | docs | P (strict) | R (strict) | F (strict) | F (partial) | train time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result["steps"]:
        lines.append(
            f"| {100 * s['fraction']:.0f} % | {s['docs']} "
            f"| {100 * s['strict']['p']:.1f} | {100 * s['strict']['r']:.1f} "
            f"| {100 * s['strict']['f']:.1f} | {100 * s['partial']['f']:.1f} | {s['train_seconds']:.1f} |"
        )
    steps = result["steps"]
    if len(steps) >= 2:
        gain = steps[-1]["strict"]["f"] - steps[-2]["strict"]["f"]
        noise = curve_noise(result)
        if gain > noise:
            verdict = ": more annotation still helps."
        elif gain < -noise:
            verdict = ": the last step made it worse; look at what was added."
        else:
            verdict = (f", within the {100 * noise:.1f} points that two of the {result.get('test_entities', '?')} "
                       "test entities change: the curve is flat here, more annotation is not shown to help.")
        lines += [
            "",
            f"The last step ({100 * steps[-2]['fraction']:.0f} % → {100 * steps[-1]['fraction']:.0f} %) "
            f"changed strict F by {100 * gain:+.1f} points" + verdict,
        ]
    return "\n".join(lines) + "\n"


def plot_curve(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display in CI
    import matplotlib.pyplot as plt

    steps = result["steps"]
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        for scheme, style in (("strict", "o-"), ("partial", "s--")):
            ax.plot([s["docs"] for s in steps], [s[scheme]["f"] for s in steps], style, label=f"F ({scheme})")
        ax.set_xlabel("training documents")
        ax.set_ylabel("F on the test documents")
        ax.set_ylim(0, 1)
        ax.set_title("Learning curve")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
