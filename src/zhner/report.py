"""Render evaluation metrics as report.md, report.json, errors.html (displaCy) and a per-label F chart."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spacy import displacy

from zhner.config import LabelScheme
from zhner.io import atomic_open, write_json, write_text

if TYPE_CHECKING:
    from zhner.evaluate import GoldDoc, Predictions

REPORT_FILES = ("report.md", "report.json", "errors.html", "per_label_f.png")
MAX_LISTED_ERRORS = 40  # report.md stays readable in a CI log; report.json has them all


def write_reports(
    metrics: dict, docs: Sequence[GoldDoc], preds: Mapping[str, Predictions], scheme: LabelScheme, out: Path
) -> dict[str, Path]:
    """Write every report file atomically; returns them by kind."""
    paths = {name.split(".")[0]: out / name for name in REPORT_FILES}
    write_json(paths["report"].with_suffix(".json"), metrics)
    write_text(paths["report"].with_suffix(".md"), render_markdown(metrics))
    write_text(paths["errors"], render_errors_html(docs, preds, scheme))
    plot_per_label(metrics, paths["per_label_f"])
    return paths


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _delta(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f}"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: shown as written, never read as HTML or as a column."""
    text = html.escape(str(text), quote=False)  # a renderer passes raw HTML through: <script>, <img onerror>
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _code(text: str) -> str:
    """Text as an inline code span (HTML inside one is shown as written); a backtick would end it."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _ent(side: dict | None) -> str:
    return "–" if side is None else f"{_cell(side['text'])} {_cell(side['label'])}"


def render_markdown(metrics: dict) -> str:
    """A report readable as plain text in a CI log and rendered in a PR comment (figures in %)."""
    model, base = metrics["model"], metrics["baseline"]
    schemes, labels = metrics["schemes"], metrics["labels"]
    lines = [
        "# NER evaluation",
        "",
        f"Model {_code(model['name'])} on {_code(metrics['data'])}: {metrics['n_docs']} documents, "
        f"{metrics['n_gold_entities']} gold entities."
        + (f" Baseline {_code(base['name'])}." if base else " No baseline."),
        "",
    ]
    if gate := metrics.get("gate"):
        verdict = "PASSED" if gate["passed"] else "FAILED"
        lines += [
            f"**Gate {verdict}**: strict micro F {_pct(model['strict']['f'])} vs baseline "
            f"{_pct(base['strict']['f'])} (drop {_delta(gate['drop'])} points, "
            f"allowed {_pct(gate['max_drop'])}).",
            "",
        ]
    lines += ["## Micro scores (%)", ""]
    header = ["scheme", "P", "R", "F"] + (["baseline P", "baseline R", "baseline F", "Δ F"] if base else [])
    rows = []
    for s in schemes:
        row = [s, _pct(model[s]["p"]), _pct(model[s]["r"]), _pct(model[s]["f"])]
        if base:
            row += [
                _pct(base[s]["p"]),
                _pct(base[s]["r"]),
                _pct(base[s]["f"]),
                _delta(metrics["diff"]["micro"][s]),
            ]
        rows.append(row)
    lines += _table(header, rows)
    lines += ["## Per label, strict (%)", ""]
    header = ["label", "gold", "predicted", "P", "R", "F"] + (["baseline F", "Δ F"] if base else [])
    rows = []
    for label in labels:
        m = model["per_label"][label]["strict"]
        row = [label, m["pos"], m["act"], _pct(m["p"]), _pct(m["r"]), _pct(m["f"])]
        if base:
            base_f = base["per_label"][label]["strict"]["f"]
            row += [_pct(base_f), _delta(metrics["diff"]["per_label"][label]["strict"])]
        rows.append(row)
    lines += _table(header, rows)
    lines += _confusion_md(model["confusion"], "model")
    lines += _errors_md(model["errors"], "model")
    return "\n".join(lines)


def _confusion_md(conf: dict, who: str) -> list[str]:
    lines = [f"## Confusion ({who}): rows gold, columns predicted", ""]
    rows = [[r, *counts] for r, counts in zip(conf["rows"], conf["matrix"])]
    return lines + _table(["gold \\ predicted", *conf["columns"]], rows)


def _errors_md(errors: Sequence[dict], who: str) -> list[str]:
    kinds = Counter(e["kind"] for e in errors)
    lines = [
        f"## Errors ({who})",
        "",
        "boundary {boundary}, type {type}, missed {missed}, spurious {spurious}".format(
            **{k: kinds.get(k, 0) for k in ("boundary", "type", "missed", "spurious")}
        ),
        "",
    ]
    listed = [e for e in errors if e["kind"] in ("boundary", "type")]
    if listed:
        lines += [
            f"### Boundary and type errors ({min(len(listed), MAX_LISTED_ERRORS)} of {len(listed)})",
            "",
        ]
        rows = [
            [_cell(e["doc"]), e["kind"], _ent(e["gold"]), _ent(e["pred"])] for e in listed[:MAX_LISTED_ERRORS]
        ]
        lines += _table(["document", "kind", "gold", "found as"], rows)
    return lines


def render_errors_html(docs: Sequence[GoldDoc], preds: Mapping[str, Predictions], scheme: LabelScheme) -> str:
    """One displaCy page: for each document with a strict error, the gold entities then each pipeline's."""
    colors = {name: d.color for name, d in scheme.labels.items()}
    parts = []
    for i, doc in enumerate(docs):
        if all(set(p.ents[i]) == set(doc.ents) for p in preds.values()):
            continue
        parts.append(_manual(doc.text, doc.ents, f"{doc.id} — gold"))
        for who, p in preds.items():
            parts.append(_manual(doc.text, p.ents[i], f"{doc.id} — {who} ({p.name})"))
    if not parts:
        parts.append(
            {"text": "No errors: every document matches its gold entities.", "ents": [], "title": "zhner"}
        )
    return displacy.render(parts, style="ent", manual=True, page=True, options={"colors": colors})


def _manual(text: str, ents: Sequence, title: str) -> dict:
    # displaCy escapes the text but not the title
    return {
        "text": text,
        "ents": [{"start": e.start, "end": e.end, "label": e.label} for e in sorted(ents)],
        "title": html.escape(title),
    }


def plot_per_label(metrics: dict, path: Path, scheme: str = "strict") -> None:
    """A bar chart of per-label F for the model, beside the baseline's when there is one."""
    import matplotlib

    matplotlib.use("Agg")  # no display in CI
    import matplotlib.pyplot as plt

    labels = metrics["labels"]
    series = {"model": metrics["model"]}
    if metrics["baseline"]:
        series["baseline"] = metrics["baseline"]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 4))
    try:
        for k, (who, m) in enumerate(series.items()):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
            ax.bar(
                xs,
                [m["per_label"][label][scheme]["f"] for label in labels],
                width,
                label=f"{who}: {m['name']}",
            )
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"F ({scheme})")
        ax.set_title(f"Per-label F ({scheme}) on {Path(metrics['data']).name}")
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
