"""Pipelines in, spans out: the one loader of spaCy pipelines that every stage uses, and docs as zhner spans.

A pipeline is named by installed package (`zh_core_web_trf`), by path (`models/zh_news_base`) or as
`lac` (Baidu's LAC through its spaCy component, zhner.pipeline.lac, left byte-identical because its
text keys the teacher's label cache). zhner's own components (`zhner_patterns`,
`zhner_lac`) are registered by the `spacy_factories` entry points of pyproject.toml, so loading
needs no import of them.
"""

from __future__ import annotations

import configparser
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import spacy
from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc

from zhner.config import LabelScheme
from zhner.console import logger
from zhner.errors import fail
from zhner.schemas import Span, check_spans

PATTERN_SPANS_KEY = "zhner_patterns"  # doc.spans key under which the pattern component keeps its matches
ENT_SCORES_KEY = "zhner_ent_scores"  # doc.user_data key of the NER entities' probabilities (preannotate)
ANALYSIS_KEY = "zhner_analysis_p"  # doc.user_data key of the beam's probability of the NER's whole analysis


def load_pipeline(model: str | Path) -> Language:
    """Load a spaCy pipeline by installed name or path, as a catalogued error (E205) when it cannot
    be loaded; never downloads anything."""
    from zhner.pipeline import lac  # LAC is built in code: its model is its own package, not a spaCy folder

    if lac.is_lac(model):  # Baidu's LAC through its spaCy component (E220 when not installed)
        return lac.build_pipeline()
    try:
        return spacy.load(model)
    except Exception as err:  # a broken config.cfg raises confection, configparser or import errors alike
        logger.debug("spacy.load(%r) failed", model, exc_info=True)
        raise fail("E205", model=model, reason=load_failure(model, err)) from None


def load_failure(model: str | Path, err: Exception) -> str:
    """Why spacy.load failed, as one line that is never empty: the error's type, then its message.

    confection's config errors start with blank lines (the first line alone said nothing)
    and carry their field errors separately; they are named after the pipeline's config.cfg.
    """
    fields = [e for e in getattr(err, "errors", None) or [] if isinstance(e, dict)]
    if fields:
        text = "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in fields)
    else:
        text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or "no message"
    config = Path(model) / "config.cfg"
    if isinstance(err, (ConfigValidationError, configparser.Error)) and config.is_file():
        return f"{config}: {type(err).__name__}: {text.replace(repr('<string>'), 'config.cfg')}"[:400]
    return f"{type(err).__name__}: {text}"[:400]


def model_id(nlp: Language) -> tuple[str, str]:
    """`lang_name` and version from the pipeline's meta.json, as spaCy names packages."""
    meta = nlp.meta
    return f"{meta.get('lang', 'xx')}_{meta.get('name', 'pipeline')}", str(meta.get("version", "0.0.0"))


def ent_score(doc: Doc, start_char: int, end_char: int, label: str) -> float | None:
    """The stored probability of one entity; None when no scores were computed."""
    scores = doc.user_data.get(ENT_SCORES_KEY)
    if scores is None:
        return None
    return scores.get(f"{start_char}:{end_char}:{label}", 0.0)


def analysis_score(doc: Doc) -> float | None:
    """The beam's probability of the NER's analysis of the doc (exactly its entities); None when not computed."""
    return doc.user_data.get(ANALYSIS_KEY)


def doc_spans(
    doc: Doc, scheme: LabelScheme, mapping: str, dropped: Counter | None = None
) -> list[Span]:
    """The doc's entities as zhner spans: label mapped, source (model/pattern) and score attached."""
    pattern_char_spans = {(s.start_char, s.end_char, s.label_) for s in doc.spans.get(PATTERN_SPANS_KEY, [])}
    spans = []
    for ent in doc.ents:
        label = scheme.map_label(mapping, ent.label_)
        if label is None:
            if dropped is not None:
                dropped[ent.label_] += 1
            continue
        key = (ent.start_char, ent.end_char, ent.label_)
        if key in pattern_char_spans:
            source, score = "pattern", 1.0
        else:
            source, score = "model", ent_score(doc, *key)
        spans.append(Span(start=ent.start_char, end=ent.end_char, label=label, source=source, score=score))
    return spans


def check_offsets(doc_id: str, text: str, doc: Doc, spans: Sequence[Span]) -> None:
    """Refuse spans that do not point at the text the model saw (E207), by the one set of span checks."""
    if doc.text != text:
        raise fail("E207", segment=doc_id, reason="the tokenizer changed the text")
    _, problems = check_spans([s.as_triple() for s in spans], text, blank_ok=False, overlap_ok=True)
    if problems:
        raise fail("E207", segment=doc_id, reason=problems[0].message())