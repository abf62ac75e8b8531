"""The build's training data: People's Daily lines, their split and silver entities, the teacher's
labels over them, and the spaCy docs that `spacy train` reads."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from zhner.config import config_path
from zhner.errors import fail
from zhner.pipeline import corpus as pd_corpus
from zhner.pipeline import teacher
from zhner.pipeline.bootstrap_config import BootstrapConfig, Log
from zhner.pipeline.silver import SilverSentence, silver_entities
from zhner.pipeline.variants import PATTERNS_FACTORY


@dataclass
class Data:
    """The corpus, its split and its silver entities."""

    sentences: list[list[pd_corpus.Token]]
    split: pd_corpus.Split
    silver: list[SilverSentence]
    extra: list[SilverSentence] = field(default_factory=list)  # teacher-labelled lines of another text
    teacher_stats: dict = field(default_factory=dict)

    def part(self, name: str) -> list[SilverSentence]:
        return [self.silver[i] for i in getattr(self.split, name)]


def load_data(cfg: BootstrapConfig) -> Data:
    """Fetch, parse, split and silver-annotate the People's Daily corpus."""
    sentences = pd_corpus.read_corpus(pd_corpus.fetch_peoples_daily())
    if cfg.corpus.limit:
        sentences = sentences[: cfg.corpus.limit]
    split = pd_corpus.split_lines(
        len(sentences), dev=cfg.corpus.dev, heldout=cfg.corpus.heldout, block=cfg.corpus.block, seed=cfg.corpus.seed
    )
    return Data(sentences, split, [silver_entities(s, cfg.silver) for s in sentences])


_HALFWIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
                           | {chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)}
                           | {chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)}
                           | {"％": "%", "．": ".", "／": "/"})


def halfwidth(text: str) -> str:
    """Full-width digits and Latin letters as today's news prints them (same length, offsets kept)."""
    return text.translate(_HALFWIDTH)


def to_docbin(sentences: Iterable[SilverSentence], nlp: Language, *, halfwidth_fraction: float, seed: int) -> DocBin:
    """Silver sentences as spaCy docs over their gold words; some lines switched to half-width digits."""
    rng = random.Random(seed)
    db = DocBin(store_user_data=False)
    for sent in sentences:
        if not sent.words:
            continue
        words = [halfwidth(w) for w in sent.words] if rng.random() < halfwidth_fraction else sent.words
        doc = Doc(nlp.vocab, words=words, spaces=[False] * len(words))
        doc.ents = [spacy.tokens.Span(doc, s, e, label=label) for s, e, label in sent.spans]
        db.add(doc)
    return db


def relabel_with_teacher(cfg: BootstrapConfig, data: Data, work: Path, log: Log) -> dict:
    """Train and dev lines get the teacher's labels (cached); held-out lines keep the PKU silver they are scored on."""
    lines = sorted({*data.split.train, *data.split.dev})
    spans = teacher.teacher_spans([data.silver[i].text for i in lines], cfg.teacher, work, log)
    relabelled, stats = teacher.relabel([data.silver[i] for i in lines], spans, cfg.teacher.labels, cfg.teacher.fill)
    for i, sentence in zip(lines, relabelled, strict=True):
        data.silver[i] = sentence
    return stats


def apply_teacher(cfg: BootstrapConfig, data: Data, pkuseg_dir: Path, work: Path, log: Log, use_patterns: bool) -> None:
    """Train and dev lines get the teacher's ORG/GPE/LOC (held-out lines keep the PKU silver they are
    scored on); the extra text, labelled the same way, joins the training data."""
    settings = cfg.teacher
    if settings.use is None:
        return
    if settings.extra_text is not None and not use_patterns:
        raise fail("E206", path=config_path("bootstrap.yml"),
                   reason="teacher.extra_text needs the pattern layer for DATE and QUANTITY (patterns.use)")
    stats = relabel_with_teacher(cfg, data, work, log)
    if settings.extra_text is not None:
        texts = teacher.extra_lines(settings.extra_text, work, Path.cwd())
        extra_spans = teacher.teacher_spans(texts, settings, work, log)
        data.extra = teacher.extra_sentences(texts, extra_spans, pkuseg_dir, settings.labels, PATTERNS_FACTORY)
        stats["extra_lines"] = len(texts)
    data.teacher_stats = stats
    log(f"Teacher {settings.use}: {stats['teacher_spans']:,} spans on People's Daily words "
        f"({stats['teacher_spans_off_word_boundaries']:,} off word boundaries, dropped); "
        f"{stats.get('extra_lines', 0):,} extra lines")
