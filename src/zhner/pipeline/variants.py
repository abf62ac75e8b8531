"""The arrangements of model and pattern layer that bootstrap chooses between (the pattern layer is
owned by zhner.pipeline.patterns and used when present)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from spacy.language import Language

from zhner.config import config_path
from zhner.errors import fail

PATTERNS_FACTORY = "zhner_patterns"
SPAN_RULES_FACTORY = "zhner_span_rules"  # the guidelines' span rules, last in every arrangement with patterns


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
