"""Evaluate a spaCy pipeline on a DocBin of gold documents, optionally against a baseline pipeline.

Any pipeline (the pre-annotator, a trained model, an OntoNotes `zh_core_web_*`) is scored
the same way: its entities are mapped into our label scheme, then compared with the gold
entities as character spans (see `zhner.scoring`), so different tokenisers do not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from sklearn.metrics import confusion_matrix
from spacy.tokens import Doc, DocBin

from zhner.config import LabelScheme, load_labels
from zhner.errors import fail, printable
from zhner.io import output_dir, read_jsonl, unreadable
from zhner.nlp import load_pipeline
from zhner.report import REPORT_FILES, write_reports
from zhner.scoring import SCHEMES, Ent, overlaps, score
from zhner.schemas import Task

MISSED, SPURIOUS = "MISSED", "SPURIOUS"
LABEL_SCHEME_OF_PIPELINES = "ontonotes"  # spaCy's zh pipelines use OntoNotes labels


@dataclass
class GoldDoc:
    id: str
    text: str
    ents: list[Ent]


@dataclass
class Predictions:
    """One pipeline's entities per gold document, and the name it was loaded by."""

    name: str
    ents: list[list[Ent]] = field(default_factory=list)


def read_gold(path: Path, scheme: LabelScheme) -> list[GoldDoc]:
    """The gold documents of a DocBin, their entities mapped into our label scheme; or of gold task
    JSONL (annotations/gold/*.jsonl), whose character spans are already in it."""
    path = Path(path)
    if not path.is_file():
        raise unreadable(path)
    if path.suffix == ".jsonl":
        return read_gold_tasks(path, scheme)
    try:
        docs = list(DocBin().from_disk(path).get_docs(spacy.blank("zh").vocab))
    except (ValueError, KeyError, TypeError) as err:
        raise fail("E402", path=path, reason=err) from None
    if not docs:
        raise fail("E403", path=path)
    return [
        GoldDoc(id=str(doc.user_data.get("segment_id", f"#{i}")), text=doc.text, ents=doc_ents(doc, scheme))
        for i, doc in enumerate(docs)
    ]


def read_gold_tasks(path: Path, scheme: LabelScheme) -> list[GoldDoc]:
    """Gold task JSONL (zhner.schemas.Task, as annotations/gold/ keeps it) as gold documents."""
    docs = [GoldDoc(id=t.meta.segment_id, text=t.text,
                    ents=[Ent(s, e, label) for s, e, label in t.label if label in scheme.labels])
            for t in read_jsonl(path, Task)]
    if not docs:
        raise fail("E403", path=path)
    return docs


def doc_ents(doc: Doc, scheme: LabelScheme) -> list[Ent]:
    """Entities as character spans in our labels; labels with no mapping are dropped."""
    ents = []
    for ent in doc.ents:
        label = scheme.map_label(LABEL_SCHEME_OF_PIPELINES, ent.label_)
        if label is not None:
            ents.append(Ent(ent.start_char, ent.end_char, label))
    return ents


def predict(name: str, docs: Sequence[GoldDoc], scheme: LabelScheme, batch_size: int = 64) -> Predictions:
    """Run pipeline `name` on the gold texts (tokenised by its own tokenizer)."""
    nlp = load_pipeline(name)
    texts = [d.text for d in docs]
    return Predictions(
        name=name, ents=[doc_ents(doc, scheme) for doc in nlp.pipe(texts, batch_size=batch_size)]
    )


def error_pairs(gold: GoldDoc, pred: Sequence[Ent]) -> list[dict]:
    """Every strict error in one document: boundary, type, missed and spurious entities."""
    errors = []
    for g in gold.ents:
        touching = [p for p in pred if overlaps(g, p)]
        if g in touching:
            continue
        if not touching:
            errors.append(_error("missed", gold, g, None))
        for p in touching:
            kind = "type" if (p.start, p.end) == (g.start, g.end) else "boundary"
            errors.append(_error(kind, gold, g, p))
    for p in pred:
        if not any(overlaps(g, p) for g in gold.ents):
            errors.append(_error("spurious", gold, None, p))
    return errors


def _error(kind: str, doc: GoldDoc, g: Ent | None, p: Ent | None) -> dict:
    def side(e: Ent | None) -> dict | None:
        if e is None:
            return None
        return {"text": doc.text[e.start : e.end], "label": e.label, "start": e.start, "end": e.end}

    return {"doc": doc.id, "kind": kind, "gold": side(g), "pred": side(p)}


def confusion(docs: Sequence[GoldDoc], preds: Sequence[Sequence[Ent]], labels: Sequence[str]) -> dict:
    """Label confusion: a row per gold label (plus SPURIOUS), a column per predicted label (plus MISSED).

    Each gold entity counts once, under the prediction that overlaps it best (same
    boundaries first, then the longest overlap), or MISSED; SPURIOUS counts predictions
    that overlap no gold entity.
    """
    y_true, y_pred = [], []
    for doc, pred in zip(docs, preds):
        for g in doc.ents:
            touching = [p for p in pred if overlaps(g, p)]
            best = max(touching, key=lambda p: _closeness(g, p), default=None)
            y_true.append(g.label)
            y_pred.append(best.label if best else MISSED)
        for p in pred:
            if not any(overlaps(g, p) for g in doc.ents):
                y_true.append(SPURIOUS)
                y_pred.append(p.label)
    rows, cols = [*labels, SPURIOUS], [*labels, MISSED]
    every = [*labels, SPURIOUS, MISSED]
    matrix = confusion_matrix(y_true, y_pred, labels=every) if y_true else [[0] * len(every)] * len(every)
    index = {label: i for i, label in enumerate(every)}
    return {
        "rows": rows,
        "columns": cols,
        "matrix": [[int(matrix[index[r]][index[c]]) for c in cols] for r in rows],
    }


def _closeness(g: Ent, p: Ent) -> tuple[bool, int]:
    """Same boundaries first, then the longest overlap."""
    return (p.start, p.end) == (g.start, g.end), min(p.end, g.end) - max(p.start, g.start)


def model_metrics(docs: Sequence[GoldDoc], pred: Predictions, labels: Sequence[str]) -> dict:
    """Micro figures per scheme at the top level, per-label ones under `per_label`, plus errors."""
    scores = score([d.ents for d in docs], pred.ents, labels)
    return {
        "name": printable(pred.name),
        **{s: scores[s]["micro"] for s in SCHEMES},
        "per_label": {label: {s: scores[s]["per_label"][label] for s in SCHEMES} for label in labels},
        "confusion": confusion(docs, pred.ents, labels),
        "errors": [e for d, p in zip(docs, pred.ents) for e in error_pairs(d, p)],
    }


def compare(model: dict, baseline: dict, labels: Sequence[str]) -> dict:
    """Model minus baseline F, micro and per label, for every scheme."""
    return {
        "micro": {s: model[s]["f"] - baseline[s]["f"] for s in SCHEMES},
        "per_label": {
            label: {
                s: model["per_label"][label][s]["f"] - baseline["per_label"][label][s]["f"] for s in SCHEMES
            }
            for label in labels
        },
    }


def gate(model: dict, baseline: dict, max_drop: float) -> dict:
    """Pass unless the model's strict micro F is more than `max_drop` below the baseline's."""
    drop = baseline["strict"]["f"] - model["strict"]["f"]
    # a tiny tolerance so that equal scores computed in different orders never fail the gate
    return {"metric": "strict micro F", "max_drop": max_drop, "drop": drop, "passed": drop <= max_drop + 1e-9}


def evaluate(
    *,
    model: str,
    data: Path,
    baseline: str | None = None,
    max_drop: float = 0.01,
    out: Path | None = None,
    force: bool = False,
    labels_path: Path | None = None,
) -> dict:
    """Score `model` (and `baseline`) on the gold DocBin `data`; write the reports to `out` when given.

    Returns the metrics dict that is also written as report.json. The report folder is checked
    and held before any work, and its files are swapped in together at the end.
    """
    if max_drop < 0:
        raise fail("E404", value=max_drop)
    if out is None:
        return _evaluate(model, Path(data), baseline, max_drop, labels_path, None)
    with output_dir(Path(out), REPORT_FILES, force=force) as staging:
        return _evaluate(model, Path(data), baseline, max_drop, labels_path, staging)


def _evaluate(
    model: str, data: Path, baseline: str | None, max_drop: float, labels_path: Path | None, out: Path | None
) -> dict:
    scheme = load_labels(labels_path)
    labels = list(scheme.labels)
    docs = read_gold(Path(data), scheme)
    preds = {"model": predict(model, docs, scheme)}
    if baseline is not None:
        preds["baseline"] = predict(baseline, docs, scheme)
    metrics: dict = {
        "data": printable(data),
        "n_docs": len(docs),
        "n_gold_entities": sum(len(d.ents) for d in docs),
        "labels": labels,
        "schemes": list(SCHEMES),
        "model": model_metrics(docs, preds["model"], labels),
        "baseline": model_metrics(docs, preds["baseline"], labels) if baseline is not None else None,
    }
    if baseline is not None:
        metrics["diff"] = compare(metrics["model"], metrics["baseline"], labels)
        metrics["gate"] = gate(metrics["model"], metrics["baseline"], max_drop)
    else:
        metrics["diff"] = None
        metrics["gate"] = None
    if out is not None:
        write_reports(metrics, docs, preds, scheme, Path(out))
    return metrics
