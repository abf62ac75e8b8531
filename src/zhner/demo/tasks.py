"""Synthetic tasks with the characters that break offset bookkeeping, for the round-trip
fidelity test and the benchmark: astral CJK Extension B (𠮷), emoji with skin-tone modifiers
and ZWJ sequences, CRLF, full-width forms and combining accents, each placed before a span."""

from __future__ import annotations

import random

from zhner.schemas import Span, Task, TaskMeta, text_sha1

HARD = ["𠮷", "𡈽", "👍🏽", "👩\u200d💻", "\r\n", "ＡＢＣ", "１２３", "e\u0301", "Å", "，", "\u3000", "😀"]
ENTITIES = [
    ("西藏自治区党委", "ORG"), ("国家统计局拉萨调查队", "ORG"), ("拉萨市", "GPE"), ("尼木县", "GPE"),
    ("雅鲁藏布江", "LOC"), ("祁连山", "LOC"), ("2月21日上午", "DATE"), ("清明节期间", "DATE"),
    ("12吨", "QUANTITY"), ("６万余元", "QUANTITY"), ("𠮷野家集团", "ORG"), ("普松村", "GPE"),
]  # fmt: skip
FILLER = ["在", "召开会议，", "发布消息", "表示", "和", "捐赠", "参观了", "。"]


def hard_task(i: int, rng: random.Random) -> Task:
    """One segment: hard characters and filler between 1–6 entity spans, offsets in code points."""
    parts: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for _ in range(rng.randint(1, 6)):
        for piece in (rng.choice(HARD), rng.choice(FILLER)):
            parts.append(piece)
            pos += len(piece)
        surface, label = rng.choice(ENTITIES)
        spans.append((pos, pos + len(surface), label))
        parts.append(surface)
        pos += len(surface)
    parts.append(rng.choice(HARD) + "。")
    text = "".join(parts)
    meta = TaskMeta(
        segment_id=f"bench{i // 20:05d}-{i % 20:03d}-00", article_id=f"bench{i // 20:05d}",
        text_sha1=text_sha1(text), model="synthetic", model_version="1",
        spans=[Span(start=s, end=e, label=lab, source="model", score=round(rng.random(), 3)) for s, e, lab in spans],
    )  # fmt: skip
    return Task(text=text, label=spans, meta=meta)


def hard_tasks(n: int, seed: int = 0) -> list[Task]:
    rng = random.Random(seed)
    return [hard_task(i, rng) for i in range(n)]
