"""Benchmark of the pattern layer alone: speed beside the bare tokenizer, and P/R/F on the gold seeds.

    python bench/bench_patterns.py [--repeat 20] [--gold annotations/gold/seeds.jsonl]

Speed (characters per CPU second, one thread): `match_patterns` over the seed articles repeated into
one long text, and a blank 'zh' pipeline (jieba segmenter) with and without the `zhner_patterns`
component over the same text in paragraphs: the ratio is what the patterns cost the pre-annotation.
Quality: exact-span scores of the patterns alone per label, per split of corpus/splits.json.
Measures, never asserts; never reads the MSRA file. Writes bench/results/bench_patterns.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import spacy

from zhner.config import label_names
from zhner.io import read_jsonl, read_splits, write_json
from zhner.pipeline.patterns import load_matcher, match_patterns
from zhner.schemas import Task
from zhner.scoring import score_spans

LABELS = label_names()

REPO = Path(__file__).resolve().parents[1]


def seed_text() -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").glob("*.txt")))


def best_of(runs: int, fn) -> float:
    """Least CPU time of `runs` calls: the machine is shared, and CPU time (one thread) is what
    other processes disturb least; the minimum is the least disturbed run."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def speed(repeat: int) -> dict:
    text = seed_text() * repeat
    paragraphs = [p for p in text.split("\n") if p.strip()]
    load_matcher()  # compile once, outside the timing
    match_s = best_of(3, lambda: match_patterns(text))
    bare = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    with_patterns = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    with_patterns.add_pipe("zhner_patterns")
    list(bare.pipe(paragraphs[:50]))  # jieba loads its dictionary lazily
    list(with_patterns.pipe(paragraphs[:50]))
    bare_s = best_of(3, lambda: list(bare.pipe(paragraphs)))
    full_s = best_of(3, lambda: list(with_patterns.pipe(paragraphs)))
    n = len(text)
    return {
        "chars": n,
        "match_patterns_chars_per_s": round(n / match_s),
        "tokenizer_chars_per_s": round(n / bare_s),
        "tokenizer_plus_patterns_chars_per_s": round(n / full_s),
        "ratio_to_bare_tokenizer": round(bare_s / full_s, 3),
    }


def quality(gold_path: Path) -> dict:
    tasks = list(read_jsonl(gold_path, Task))
    splits_file = REPO / "corpus" / "splits.json"
    splits = read_splits(splits_file).articles if splits_file.exists() else {}
    groups: dict[str, list[tuple[list, list]]] = {"all": []}
    for task in tasks:
        pair = ([tuple(x) for x in task.label], [s.as_triple() for s in match_patterns(task.text)])
        groups["all"].append(pair)
        groups.setdefault(splits.get(task.meta.article_id, "unsplit"), []).append(pair)
    return {name: score_spans(pairs, LABELS) for name, pairs in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="copies of the seed articles in the timed text")
    parser.add_argument("--gold", type=Path, default=REPO / "annotations" / "gold" / "seeds.jsonl")
    args = parser.parse_args()
    result = {"speed": speed(args.repeat), "gold": quality(args.gold) if args.gold.exists() else None}
    s = result["speed"]
    print(f"| text | chars/s |\n|---|---:|\n| match_patterns | {s['match_patterns_chars_per_s']:,} |")
    print(f"| blank zh + jieba (bare tokenizer) | {s['tokenizer_chars_per_s']:,} |")
    print(f"| blank zh + jieba + zhner_patterns | {s['tokenizer_plus_patterns_chars_per_s']:,} "
          f"({s['ratio_to_bare_tokenizer']:.0%} of bare) |\n")
    if result["gold"]:
        print("| split | label | P | R | F | gold |\n|---|---|---:|---:|---:|---:|")
        for split, scores in result["gold"].items():
            for label, m in [*scores["per_label"].items(), ("micro", scores["micro"])]:
                print(f"| {split} | {label} | {m['p']:.2f} | {m['r']:.2f} | {m['f']:.2f} | {m['tp'] + m['fn']} |")
    write_json(REPO / "bench" / "results" / "bench_patterns.json", result)


if __name__ == "__main__":
    main()
