"""What each family of the span rules (configs/patterns/span_rules.yml) is worth on the news dev set.

    python bench/bench_span_rules.py [--model models/zh_news_base] [--dev annotations/gold/dev_news.jsonl]

The pipeline runs once without its `zhner_span_rules` component; the rules are then applied to its
entities with every family on, with each family off in turn, and with all off (the pipeline as it was
before the rules). Strict five-label scores (`zhner.scoring`), per label. Writes
bench/results/bench_span_rules.json and prints a markdown table. The rules were written from the
guidelines after reading the base's errors on this dev set: these figures choose the families and are
optimistic for them; the held-out set kept outside the repository is the honest figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import spacy

from zhner.config import label_names
from zhner.io import read_jsonl
from zhner.nlp import PATTERN_SPANS_KEY
from zhner.pipeline.span_rules import CompiledRules, apply_rules, load_rules, prefer_patterns
from zhner.schemas import Task
from zhner.scoring import Ent, score

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("pattern_wins", "date", "quantity", "gpe", "org", "loc")


def switched_off(rules: CompiledRules, families: set[str]) -> CompiledRules:
    """The same rules with `families` disabled."""
    update: dict = {name: getattr(rules.file, name).model_copy(update={"enabled": False})
                    for name in families if name != "pattern_wins"}
    if "pattern_wins" in families:
        update["pattern_wins"] = []
    return dataclasses.replace(rules, file=rules.file.model_copy(update=update))


def run(model: Path, dev: Path, rules_dir: Path | None = None) -> dict:
    tasks = list(read_jsonl(dev, Task))
    nlp = spacy.load(model, exclude=["zhner_span_rules"])
    if rules_dir is None and (model / "zhner_span_rules").is_dir():
        rules_dir = model / "zhner_span_rules"
    rules = load_rules(rules_dir)
    started = time.perf_counter()
    found = []
    for doc in nlp.pipe([t.text for t in tasks], batch_size=64):
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        patterns = [(s.start_char, s.end_char, s.label_) for s in doc.spans.get(PATTERN_SPANS_KEY, [])]
        found.append((doc.text, ents, patterns))
    seconds = time.perf_counter() - started
    labels = label_names()  # labels outside the scheme (a NER's PERSON) are not scored
    gold = [[Ent(s, e, label) for s, e, label in t.label] for t in tasks]
    rows = {}
    for name, off in [("all rules", set()), *((f"without {f}", {f}) for f in FAMILIES), ("no rules", set(FAMILIES))]:
        compiled = switched_off(rules, off)
        pred = []
        for text, ents, patterns in found:
            kept = prefer_patterns(ents, patterns, compiled.file.pattern_wins)
            pred.append([Ent(s, e, label) for (s, e, label), _ in apply_rules(text, kept, compiled) if label in labels])
        rows[name] = score(gold, pred, labels)["strict"]
    return {"model": str(model), "dev": str(dev), "sentences": len(tasks), "pipeline_seconds": round(seconds, 1),
            "rows": rows}


def markdown(results: dict) -> str:
    labels = label_names()
    lines = ["| rules | " + " | ".join(labels) + " | micro P / R / F |", "|---|" + "---:|" * (len(labels) + 1)]
    for name, sc in results["rows"].items():
        per = " | ".join(f"{sc['per_label'][k]['f']:.3f}" for k in labels)
        m = sc["micro"]
        lines.append(f"| {name} | {per} | {m['p']:.3f} / {m['r']:.3f} / {m['f']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "zh_news_base")
    parser.add_argument("--dev", type=Path, default=ROOT / "annotations" / "gold" / "dev_news.jsonl")
    parser.add_argument("--rules", type=Path, default=None,
                        help="folder of span_rules.yml (default: the model's own, else configs/patterns)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench_span_rules.json")
    args = parser.parse_args()
    results = run(args.model, args.dev, args.rules)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"{results['model']} on {results['sentences']} dev sentences ({results['dev']})\n")
    print(markdown(results))
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
