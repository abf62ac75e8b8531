"""Ingest benchmark: articles/s, MB/s and peak memory of `zhner ingest` on a generated corpus.

    python bench/bench_ingest.py [--articles 10000] [--seed 0]

The corpus is generated from the seed articles' sentences: each article has a site header
(breadcrumb, title, date/source line), 12-30 sentences in paragraphs and a footer
(editor line, copyright), like the seeds; 2 % are re-published copies with another
header and full-width punctuation (near-duplicates to find), 5 % are in Traditional
script with pinyin glosses, 5 % are GB18030-encoded. The ingest runs as the real CLI in a
child process, so peak memory is that process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import opencc

REPO = Path(__file__).resolve().parents[1]
HALF_TO_FULL = str.maketrans({",": "，", ":": "：", "(": "（", ")": "）", ";": "；", "?": "？", "!": "！"})


def seed_sentences() -> list[str]:
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").glob("*.txt")))
    text = re.sub(r"[(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]{1,6}[)）]", "", text)
    simplified = opencc.OpenCC("t2s").convert(text)
    return sorted(set(re.findall(r"[^。！？\n]{10,120}[。！？]", simplified)))


def make_article(rng: random.Random, sentences: list[str], i: int) -> str:
    body = rng.sample(sentences, rng.randint(12, 30))
    paragraphs = ["".join(body[k : k + 3]) for k in range(0, len(body), 3)]
    title = body[0][:24].rstrip("。！？，,")
    date = f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    return "\n\n".join(
        ["中国西藏网 > 新闻 > 西藏新闻", title, f"发布时间:{date}来源: 人民日报", *["  " + p for p in paragraphs],
         f"(责编: 编辑{i % 97})", "版权声明:凡注明“来源:中国西藏网”的所有作品,版权归高原(北京)文化传播有限公司。"]
    ) + "\n"


def generate(folder: Path, n: int, seed: int) -> int:
    """Write `n` article files; returns their total size in bytes."""
    rng = random.Random(seed)
    sentences = seed_sentences()
    to_traditional = opencc.OpenCC("s2t")
    total = 0
    previous = ""
    for i in range(n):
        roll = rng.random()
        if roll < 0.02 and previous:  # a re-published copy: other header, full-width punctuation
            text = "\n".join(previous.split("\n")[4:]).translate(HALF_TO_FULL)
        else:
            text = make_article(rng, sentences, i)
            previous = text
        if 0.02 <= roll < 0.07:
            text = re.sub(r"区", "區(qū)", to_traditional.convert(text))
        data = text.encode("gb18030" if 0.07 <= roll < 0.12 else "utf-8")
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:06d}.txt").write_bytes(data)
        total += len(data)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "raw", Path(tmp) / "corpus"
        size = generate(folder, args.articles, args.seed)
        start = time.perf_counter()
        zhner = [sys.executable, "-m", "zhner", "ingest", str(folder), "--out", str(out)]
        done = subprocess.run(zhner, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"ingest failed:\n{done.stdout}\n{done.stderr}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        articles = sum(1 for _ in (out / "articles.jsonl").open(encoding="utf-8"))
        groups = json.loads((out / "duplicates.json").read_text(encoding="utf-8"))
    result = {
        "files": args.articles,
        "input_mb": round(size / 1e6, 1),
        "seconds": round(seconds, 1),
        "articles_per_s": round(args.articles / seconds, 1),
        "mb_per_s": round(size / 1e6 / seconds, 2),
        "peak_rss_mb": round(peak_mb),
        "canonical_articles": articles,
        "duplicate_groups": len(groups),
    }
    print("| files | input MB | seconds | articles/s | MB/s | peak RSS MB | canonical | duplicate groups |")
    print("|---|---|---|---|---|---|---|---|")
    print("| " + " | ".join(str(v) for v in result.values()) + " |")
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "ingest.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
