"""Does fine-tuning beat the pre-annotator? configs/ner.cfg trained with several seeds, with and
without the dev article in training, each scored on the held-out test articles and on the news dev
set (strict micro F) beside the pre-annotator on the same documents. Issue #9 asks that the main
job's fine-tuned model keeps at least the base's F on the news dev set: one seed cannot tell.

    python bench/bench_finetune.py [--seeds 1998,1,2] [--base-model models/zh_news_base] [--corpus corpus]
                                   [--news-dev annotations/gold/dev_news.jsonl] [--shipped-only]

One seed is one draw: on 164 test entities a single entity moves F by about 0.6 points, so the
spread over seeds is part of the answer. Writes bench/results/bench_finetune.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from zhner.config import load_labels
from zhner.curve import train_once
from zhner.evaluate import model_metrics, predict, read_gold

REPO = Path(__file__).resolve().parents[1]
SETUPS = {"train only (dev held out, model-best)": False, "train + dev (model-last, as shipped)": True}


def strict_f(model: Path | str, docs, scheme, labels) -> float:
    return model_metrics(docs, predict(str(model), docs, scheme), labels)["strict"]["f"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1998,1,2", help="comma-separated training seeds")
    ap.add_argument("--base-model", default="models/zh_news_base")
    ap.add_argument("--corpus", type=Path, default=Path("corpus"), help="folder with train/dev/test/silver.spacy")
    ap.add_argument("--max-steps", type=int, default=600, help="as the main job (project.yml train_max_steps)")
    ap.add_argument("--news-dev", type=Path, default=REPO / "annotations" / "gold" / "dev_news.jsonl",
                    help="gold task JSONL scored too (never trained on)")
    ap.add_argument("--shipped-only", action="store_true", help="only the setup the main job ships (train + dev)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scheme = load_labels()
    labels = list(scheme.labels)
    test = read_gold(args.corpus / "test.spacy", scheme)
    news = read_gold(args.news_dev, scheme)
    baseline = strict_f(args.base_model, test, scheme, labels)
    news_baseline = strict_f(args.base_model, news, scheme, labels)
    print(f"pre-annotator {args.base_model}: strict micro F {baseline:.3f} on {len(test)} test segments, "
          f"{sum(len(d.ents) for d in test)} entities; {news_baseline:.3f} on the news dev set ({len(news)})")
    result = {"base_model": args.base_model, "baseline_f": baseline, "news_dev": str(args.news_dev),
              "news_dev_baseline_f": news_baseline, "seeds": seeds, "setups": {}}
    setups = {k: v for k, v in SETUPS.items() if v or not args.shipped_only}
    for setup, on_dev in setups.items():
        scores, news_scores = [], []
        for seed in seeds:
            overrides = {
                "paths.base_model": args.base_model, "paths.silver": str(args.corpus / "silver.spacy"),
                "system.seed": seed, "training.max_steps": args.max_steps, "corpora.train.train_on_dev": on_dev,
            }  # fmt: skip
            with tempfile.TemporaryDirectory(prefix="zhner-finetune-") as tmp:
                started = time.perf_counter()
                model = train_once(REPO / "configs" / "ner.cfg", args.corpus / "train.spacy",
                                   args.corpus / "dev.spacy", Path(tmp), overrides=overrides, use_gpu=-1,
                                   percent=100)  # fmt: skip
                f = strict_f(model, test, scheme, labels)
                news_f = strict_f(model, news, scheme, labels)
            scores.append(f)
            news_scores.append(news_f)
            print(f"  {setup}, seed {seed}: {model.name} strict F {f:.3f} ({f - baseline:+.3f}), news dev "
                  f"{news_f:.3f} ({news_f - news_baseline:+.3f}), {time.perf_counter() - started:.0f} s")
        result["setups"][setup] = {"f": scores, "mean": statistics.mean(scores), "min": min(scores),
                                   "max": max(scores), "news_dev_f": news_scores,
                                   "news_dev_mean": statistics.mean(news_scores)}  # fmt: skip
    print("\n| training data | on | seeds | strict F (each) | mean | mean − pre-annotator | worst seed − pre-annotator |")
    print("|---|---|---|---|---:|---:|---:|")
    for setup, r in result["setups"].items():
        for on, each_f, base_f in (("test articles", r["f"], baseline), ("news dev set", r["news_dev_f"], news_baseline)):
            each = ", ".join(f"{f:.3f}" for f in each_f)
            mean = statistics.mean(each_f)
            print(f"| {setup} | {on} | {len(seeds)} | {each} | {mean:.3f} | {mean - base_f:+.3f} | "
                  f"{min(each_f) - base_f:+.3f} |")
    out = REPO / "bench" / "results" / "bench_finetune.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
