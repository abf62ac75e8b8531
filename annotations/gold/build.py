"""Turn a hand-written annotation file into gold Task JSONL (offsets checked).

Usage (--annotations FILE --partial --out FILE check one annotator's share):
  python annotations/gold/build.py [--review] [--drop-inner]
      seeds.txt + corpus/segments.jsonl -> seeds.jsonl (the seed articles)
  python annotations/gold/build.py --set dev_news [--review]
      dev_news.txt + dev_news_*.raw.jsonl -> dev_news.jsonl (the news dev set)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from zhner.config import label_names
from zhner.io import write_jsonl
from zhner.schemas import Segment, Span, Task, TaskMeta
from zhner.io import read_jsonl

LABELS = label_names()
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KEEP_INNER = "--drop-inner" not in sys.argv  # LABEL~ entries: places inside names of non-entities


def parse(path: Path) -> dict[str, list[tuple[str, str, int]]]:
    blocks: dict[str, list[tuple[str, str, int]]] = {}
    current = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"\[(.+)\]", line):
            current = m.group(1)
            if current in blocks:
                sys.exit(f"{path}:{n}: block {current} twice")
            blocks[current] = []
            continue
        parts = line.split()
        if current is None or len(parts) not in (2, 3):
            sys.exit(f"{path}:{n}: cannot read {raw!r}")
        occ = 1
        if len(parts) == 3:
            if not parts[2].startswith("@"):
                sys.exit(f"{path}:{n}: bad occurrence {parts[2]!r}")
            occ = int(parts[2][1:])
        if parts[1].rstrip("~") not in LABELS:
            sys.exit(f"{path}:{n}: unknown label {parts[1]!r}")
        blocks[current].append((parts[0], parts[1], occ))
    return blocks


def locate(seg: Segment, entries: list[tuple[str, str, int]]) -> list[Span]:
    spans, pos = [], 0
    for string, label, occ in entries:
        start = pos - 1
        for _ in range(occ):
            start = seg.text.find(string, start + 1)
            if start < 0:
                sys.exit(f"{seg.id}: {string!r} ({label}) not found after offset {pos}")
        end = start + len(string)
        pos = end
        if label.endswith("~") and not KEEP_INNER:
            continue
        spans.append(Span(start=start, end=end, label=label.rstrip("~"), source="gold", score=None))
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            sys.exit(f"{seg.id}: overlapping spans {a} {b}")
    return spans


def raw_segments(paths: list[Path]) -> list[Segment]:
    """Segments of the dev set: each raw line is its own one-segment article, id = article id."""
    segments = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            rec = json.loads(line)
            text = rec["text"]
            if not text or text != text.strip():
                sys.exit(f"{path}:{n}: text is empty or has surrounding white space")
            segments.append(Segment(id=rec["id"], article_id=rec["id"], paragraph=0, part=0,
                                    start=0, end=len(text), text=text))
    return segments


def _arg(flag: str, default: str | None) -> str | None:
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


def main() -> None:
    name = _arg("--set", "seeds")
    if name == "seeds":
        segments = list(read_jsonl(REPO / "corpus" / "segments.jsonl", Segment))
    else:
        segments = raw_segments(sorted(HERE.glob(f"{name}_*.raw.jsonl")))
    blocks = parse(Path(_arg("--annotations", HERE / f"{name}.txt")))
    if "--partial" in sys.argv:  # checking one annotator's share: only the segments it has blocks for
        segments = [s for s in segments if s.id in blocks]
    ids = [s.id for s in segments]
    missing = [i for i in ids if i not in blocks]
    extra = [b for b in blocks if b not in ids]
    if missing or extra:
        sys.exit(f"segments without a block: {missing}; blocks without a segment: {extra}")
    tasks = []
    for seg in segments:
        spans = locate(seg, blocks[seg.id])
        meta = TaskMeta(
            segment_id=seg.id,
            article_id=seg.article_id,
            text_sha1=hashlib.sha1(seg.text.encode("utf-8")).hexdigest(),
            model=None,
            model_version=None,
            spans=spans,
        )
        tasks.append(Task(text=seg.text, label=[s.as_triple() for s in spans], meta=meta))
    n = write_jsonl(Path(_arg("--out", HERE / f"{name}.jsonl")), tasks)
    counts = Counter((t.meta.article_id, lab) for t in tasks for _, _, lab in t.label)
    arts = list(dict.fromkeys(t.meta.article_id for t in tasks))
    print(f"{n} records")
    print("article            " + " ".join(f"{l:>8}" for l in LABELS) + "    total")
    for a in arts + ["all"]:
        row = [sum(v for (aa, l), v in counts.items() if l == lab and (a == "all" or aa == a)) for lab in LABELS]
        print(f"{a:18} " + " ".join(f"{v:8d}" for v in row) + f" {sum(row):8d}")
    if "--review" in sys.argv:
        review(tasks)


def review(tasks: list[Task]) -> None:
    """Print each segment with its spans bracketed, then strings labelled somewhere but left bare elsewhere."""
    for t in tasks:
        out, pos = [], 0
        for s, e, lab in t.label:
            out.append(t.text[pos:s] + f"[{t.text[s:e]}|{lab}]")
            pos = e
        out.append(t.text[pos:])
        print(f"\n{t.meta.segment_id}\n" + "".join(out))
    labelled = defaultdict(set)
    for t in tasks:
        for s, e, lab in t.label:
            labelled[t.text[s:e]].add(lab)
    print("\n== strings with more than one label:")
    for k, v in labelled.items():
        if len(v) > 1:
            print(" ", k, sorted(v))
    print("\n== bare occurrences of labelled strings:")
    for t in tasks:
        covered = [False] * len(t.text)
        for s, e, _ in t.label:
            for i in range(s, e):
                covered[i] = True
        for string, labs in labelled.items():
            for m in re.finditer(re.escape(string), t.text):
                if not any(covered[m.start() : m.end()]):
                    ctx = t.text[max(0, m.start() - 8) : m.end() + 8]
                    print(f"  {t.meta.segment_id} {string} {sorted(labs)}: …{ctx}…")


if __name__ == "__main__":
    main()
