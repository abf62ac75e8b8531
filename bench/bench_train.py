"""Training cost of configs/ner.cfg: seconds per epoch, words/s and peak memory (CPU), on the data
of the main job (corpus/train.spacy and, with train_on_dev, dev.spacy gold × gold_repeat +
silver_limit silver lines per epoch).

    python bench/bench_train.py [--epochs 3] [--base-model models/zh_news_base] [--corpus corpus]

configs/ner_gpu.cfg is measured the same way only where a GPU is present (`--gpu-id 0`);
otherwise the script says so and leaves its row empty. Writes bench/results/bench_train.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

from spacy import util
from spacy.schemas import ConfigSchemaTraining
from spacy.training.initialize import init_nlp
from spacy.training.loop import create_evaluation_callback, create_train_batches, train_while_improving
from thinc.api import require_gpu

REPO = Path(__file__).resolve().parents[1]


def has_gpu() -> bool:
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy or no device: both mean "no GPU here"
        return False


def measure(config_path: Path, overrides: dict, epochs: int, gpu_id: int = -1) -> dict:
    """Initialise as `spacy train` does, then time each epoch of updates (evaluation excluded)."""
    if gpu_id >= 0:
        require_gpu(gpu_id)
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    t0 = time.perf_counter()
    nlp = init_nlp(config, use_gpu=gpu_id)
    init_s = time.perf_counter() - t0
    cfg = nlp.config.interpolate()
    T = util.registry.resolve(cfg["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = util.resolve_dot_names(cfg, [T["train_corpus"], T["dev_corpus"]])
    batches = create_train_batches(nlp, train_corpus, T["batcher"], epochs)
    evaluate = create_evaluation_callback(nlp, dev_corpus, T["score_weights"])
    steps = train_while_improving(
        nlp, T["optimizer"], batches, evaluate, dropout=T["dropout"], accumulate_gradient=1, patience=0,
        max_steps=0, eval_frequency=10**9, exclude=T["frozen_components"],
        annotating_components=T["annotating_components"], before_update=None,
    )  # fmt: skip
    per_epoch: dict[int, dict] = {}
    last = time.perf_counter()
    for batch, info, _ in steps:
        now = time.perf_counter()
        row = per_epoch.setdefault(info["epoch"], {"seconds": 0.0, "steps": 0, "docs": 0, "words": 0})
        if info["step"] > 0:  # step 0 includes the one evaluation (eval_frequency divides 0)
            row["seconds"] += now - last
        row["steps"] += 1
        row["docs"] += len(batch)
        row["words"] += sum(len(eg.predicted) for eg in batch)
        last = time.perf_counter()
    rows = [per_epoch[e] for e in sorted(per_epoch)]
    return {"init_s": round(init_s, 1), "epochs": rows,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--base-model", default="models/zh_news_base")
    ap.add_argument("--corpus", default="corpus", help="folder with train.spacy, dev.spacy, silver.spacy")
    ap.add_argument("--gpu-id", type=int, default=0, help="GPU for configs/ner_gpu.cfg when one is present")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy"),
                 "paths.silver": str(corpus / "silver.spacy"), "paths.base_model": args.base_model}  # fmt: skip
    cfg = util.load_config(REPO / "configs" / "ner.cfg")
    reader = cfg["corpora"]["train"]
    cpu = measure(REPO / "configs" / "ner.cfg", overrides, args.epochs)
    first = cpu["epochs"][0]
    data = {"gold_repeat": reader["gold_repeat"], "silver_limit": reader["silver_limit"],
            "docs_per_epoch": first["docs"], "words_per_epoch": first["words"]}  # fmt: skip
    result = {"machine": platform.processor() or platform.machine(), "base_model": args.base_model, "data": data,
              "cpu": cpu, "gpu": None}  # fmt: skip
    if has_gpu():
        result["gpu"] = measure(REPO / "configs" / "ner_gpu.cfg", overrides, args.epochs, gpu_id=args.gpu_id)
    print(f"configs/ner.cfg on CPU; per epoch: {data['docs_per_epoch']} docs ({data['words_per_epoch']} words): "
          f"gold × {data['gold_repeat']} + {data['silver_limit']} silver lines; init {cpu['init_s']} s")  # fmt: skip
    print("| config | epoch | seconds | steps | words/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for name in ("cpu", "gpu"):
        res = result[name]
        if res is None:
            print("| ner_gpu.cfg | - | not measured: no GPU on this machine | | | |")
            continue
        for i, row in enumerate(res["epochs"], 1):
            wps = row["words"] / row["seconds"] if row["seconds"] else 0
            print(f"| ner{'_gpu' if name == 'gpu' else ''}.cfg | {i} | {row['seconds']:.1f} | {row['steps']} | "
                  f"{wps:,.0f} | {res['peak_rss_mb']} |")  # fmt: skip
    out = REPO / "bench" / "results" / "bench_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
