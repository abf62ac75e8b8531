"""What the word segmenter allows: speed and entity-boundary ceilings of the segmenters spaCy's Chinese
tokenizer offers, against issue #9's speed goal (a pipeline at >= 0.35x the characters/s of jieba.posseg).

    python bench/bench_segmenters.py [--model models/zh_news_base] [--dev annotations/gold/dev_news.jsonl]
                                     [--sentences 1000] [--rounds 5] [--out PATH]

For the base's pkuseg (trained on People's Daily by `zhner bootstrap`), spaCy's jieba segmenter and
one token per character, on one core:

- the tokens each makes (what the tok2vec and the NER then run over) and the tokenizer's CPU seconds
  on the first MSRA test sentences, and jieba.posseg's on the same texts
  in the same interleaved rounds (best of each): no pipeline can run faster than its tokenizer;
- what is left, at 0.35x jieba.posseg, for everything after the tokenizer, beside what the base's
  components (tok2vec, NER, patterns, span rules) take in this run;
- the share of gold spans whose both ends fall on token boundaries, on the news dev set and on MSRA
  (ORG and LOC): what a word-level NER can reach at best.

Measures, never asserts; nothing is tuned here (MSRA is read for its boundaries only). Writes
bench/results/bench_segmenters.json and prints a markdown table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402
from spacy.language import Language  # noqa: E402

from bench_peers import System, chars_per_second, jieba_system  # noqa: E402
from bench_pipeline import MSRA, RESULTS, ROOT, boundary_ceiling, read_bio, stage_seconds  # noqa: E402

from zhner.io import read_jsonl  # noqa: E402
from zhner.schemas import Task  # noqa: E402

GOAL = 0.35  # issue #9: characters/s of the pipeline ÷ jieba.posseg's


def segmenters(model: Path) -> dict[str, Language]:
    """The tokenizers compared: the base's own, and spaCy's zh tokenizer with jieba and with characters."""
    return {
        "pkuseg (zh_news_base)": spacy.load(model),
        "jieba (spaCy zh)": spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}}),
        "characters (spaCy zh)": spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}}),
    }


def tokenizer_seconds(pipelines: dict[str, Language], texts: list[str], rounds: int) -> dict[str, float]:
    """CPU seconds of each tokenizer and of the jieba.posseg peer over `texts`: bench_peers' interleaved,
    best-of-`rounds` timing, so that the denominator is the one its speed ratios use."""
    systems = [System(name, name, lambda ts, n=nlp: [n.tokenizer(t) for t in ts])
               for name, nlp in pipelines.items()]
    systems.append(jieba_system())
    n = sum(map(len, texts))
    cps = chars_per_second(systems, texts, rounds=rounds)["cpu"]
    return {("jieba.posseg" if s.key == "jieba" else s.key): round(n / cps[s.key], 3) for s in systems}


def overall(ceiling: dict[str, float], data: list[tuple[str, list]]) -> float:
    """All labels together, weighted by their gold counts."""
    counts: dict[str, int] = {}
    for _, spans in data:
        for _, _, label in spans:
            counts[label] = counts.get(label, 0) + 1
    return round(sum(ceiling[k] * n for k, n in counts.items()) / sum(counts.values()), 4)


def run(model: Path, dev: Path, sentences: int, rounds: int) -> dict:
    msra = read_bio(MSRA)
    texts = [t for t, _ in msra][:sentences]
    dev_data = [(t.text, list(t.label)) for t in read_jsonl(dev, Task)]
    msra_places = [(t, [(s, e, label) for s, e, label in spans if label in ("ORG", "LOC")]) for t, spans in msra]
    pipelines = segmenters(model)
    seconds = tokenizer_seconds(pipelines, texts, rounds)
    posseg = seconds["jieba.posseg"]
    base = pipelines["pkuseg (zh_news_base)"]
    stages = stage_seconds(base, texts, rounds)
    after_tokenizer = round(sum(v for k, v in stages.items() if k != "tokenizer"), 3)
    rows = {}
    for name, nlp in pipelines.items():
        dev_ceiling = boundary_ceiling(nlp, dev_data)
        msra_ceiling = boundary_ceiling(nlp, msra_places)
        rows[name] = {
            "tokens": sum(len(nlp.tokenizer(t)) for t in texts),
            "tokenizer_s": seconds[name],
            "speed_ceiling_vs_posseg": round(posseg / seconds[name], 3),
            "left_for_components_at_goal_s": round(posseg / GOAL - seconds[name], 3),
            "dev_on_boundaries": overall(dev_ceiling, dev_data), "dev_per_label": dev_ceiling,
            "msra_org_loc_on_boundaries": overall(msra_ceiling, msra_places), "msra_per_label": msra_ceiling,
        }
    return {"model": f"{base.meta['lang']}_{base.meta['name']} {base.meta['version']}", "dev": str(dev),
            "sentences": len(texts), "characters": sum(map(len, texts)), "rounds": rounds,
            "jieba_posseg_s": posseg, "goal": GOAL, "base_stages_s": stages,
            "base_after_tokenizer_s": after_tokenizer, "segmenters": rows}


def markdown(r: dict) -> str:
    lines = [
        f"| segmenter | tokens | tokenizer CPU s | speed ceiling ÷ jieba.posseg | left for the rest at {r['goal']}× (s) "
        "| dev spans on word boundaries | MSRA ORG+LOC on word boundaries |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in r["segmenters"].items():
        lines.append(f"| {name} | {row['tokens']:,} | {row['tokenizer_s']:.2f} | {row['speed_ceiling_vs_posseg']:.2f}× | "
                     f"{row['left_for_components_at_goal_s']:.2f} | {row['dev_on_boundaries']:.3f} | "
                     f"{row['msra_org_loc_on_boundaries']:.3f} |")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in r["base_stages_s"].items())
    lines.append("")
    lines.append(f"jieba.posseg: {r['jieba_posseg_s']:.2f} CPU s on the same {r['sentences']:,} MSRA sentences "
                 f"({r['characters']:,} characters). {r['model']}'s stages (CPU s): {stages}; after the "
                 f"tokenizer {r['base_after_tokenizer_s']:.2f} s.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "zh_news_base")
    parser.add_argument("--dev", type=Path, default=ROOT / "annotations" / "gold" / "dev_news.jsonl")
    parser.add_argument("--sentences", type=int, default=1000, help="MSRA sentences timed")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_segmenters.json")
    args = parser.parse_args()
    results = run(args.model, args.dev, args.sentences, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(results))
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
