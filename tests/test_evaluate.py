"""`zhner evaluate`: the SemEval 2013 schemes on hand-computed cases, the reports, and the CI gate."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zhner.cli import app
from zhner.config import load_labels
from zhner.evaluate import GoldDoc, confusion, error_pairs, evaluate
from zhner.scoring import Ent, score

LABELS = ["ORG", "GPE", "LOC", "DATE", "QUANTITY"]

# Two documents. Document 1 has one case of each outcome; document 2 has no gold entity.
#   gold                      prediction
#   g1 [0,7)  ORG             p1 [0,5)  GPE       overlap, other bounds, other type
#   g2 [10,13) GPE            p2 [10,13) GPE      identical
#   g3 [20,24) DATE           p3 [20,24) QUANTITY same bounds, other type
#   g4 [30,33) QUANTITY       p4 [29,33) QUANTITY overlap, other bounds, same type
#   g5 [40,44) LOC            –                   missed
#   –                         p5 [50,52) ORG      spurious
#   (doc 2) –                 p6 [0,2)  ORG       spurious
GOLD = [
    [Ent(0, 7, "ORG"), Ent(10, 13, "GPE"), Ent(20, 24, "DATE"), Ent(30, 33, "QUANTITY"), Ent(40, 44, "LOC")],
    [],
]
PRED = [
    [
        Ent(0, 5, "GPE"),
        Ent(10, 13, "GPE"),
        Ent(20, 24, "QUANTITY"),
        Ent(29, 33, "QUANTITY"),
        Ent(50, 52, "ORG"),
    ],
    [Ent(0, 2, "ORG")],
]


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r)


@pytest.mark.parametrize(
    ("scheme", "counts", "p", "r"),
    [
        # strict: only g2 is COR; g1, g3, g4 INC; g5 MIS; p5, p6 SPU. POS = 5, ACT = 6.
        # P = 1/6, R = 1/5, F = 2·(1/30)/(11/30) = 2/11
        ("strict", {"COR": 1, "INC": 3, "PAR": 0, "MIS": 1, "SPU": 2}, 1 / 6, 1 / 5),
        # exact: boundaries only, so g3 (same bounds, other type) becomes COR: COR = 2.
        # P = 2/6, R = 2/5, F = 4/11
        ("exact", {"COR": 2, "INC": 2, "PAR": 0, "MIS": 1, "SPU": 2}, 2 / 6, 2 / 5),
        # partial: g2, g3 COR; g1, g4 PAR (half credit). P = (2 + 0.5·2)/6 = 1/2, R = 3/5, F = 6/11
        ("partial", {"COR": 2, "INC": 0, "PAR": 2, "MIS": 1, "SPU": 2}, 3 / 6, 3 / 5),
        # type: overlap with the same type: g2 and g4 COR; g1 (GPE≠ORG) and g3 INC. P = 2/6, R = 2/5
        ("type", {"COR": 2, "INC": 2, "PAR": 0, "MIS": 1, "SPU": 2}, 2 / 6, 2 / 5),
    ],
)
def test_micro_scores_match_the_semeval_definitions(scheme, counts, p, r):
    micro = score(GOLD, PRED, LABELS)[scheme]["micro"]
    assert {k: micro[k] for k in counts} == counts
    assert (micro["pos"], micro["act"]) == (5, 6)
    assert micro["p"] == pytest.approx(p)
    assert micro["r"] == pytest.approx(r)
    assert micro["f"] == pytest.approx(f1(p, r))


def test_f_values_written_out_as_fractions():
    result = score(GOLD, PRED, LABELS)
    assert result["strict"]["micro"]["f"] == pytest.approx(2 / 11)
    assert result["exact"]["micro"]["f"] == pytest.approx(4 / 11)
    assert result["partial"]["micro"]["f"] == pytest.approx(6 / 11)
    assert result["type"]["micro"]["f"] == pytest.approx(4 / 11)


def test_per_label_precision_counts_predictions_and_recall_counts_gold():
    result = score(GOLD, PRED, LABELS)
    gpe = result["strict"]["per_label"]["GPE"]
    # gold GPE: g2 COR → R = 1/1; predicted GPE: p1 INC, p2 COR → P = 1/2; F = 2·0.5/1.5 = 2/3
    assert (gpe["p"], gpe["r"], gpe["f"]) == pytest.approx((0.5, 1.0, 2 / 3))
    org = result["strict"]["per_label"]["ORG"]
    # gold ORG: g1 INC → R = 0; predicted ORG: p5, p6 SPU → P = 0
    assert (org["p"], org["r"], org["f"], org["SPU"]) == (0.0, 0.0, 0.0, 2)
    qty = result["type"]["per_label"]["QUANTITY"]
    # type: gold g4 overlapped by p4 (QUANTITY) → COR, R = 1; predicted p3 overlaps g3 (DATE) → INC,
    # p4 → COR: P = 1/2; F = 2/3
    assert (qty["p"], qty["r"], qty["f"]) == pytest.approx((0.5, 1.0, 2 / 3))
    gpe_partial = result["partial"]["per_label"]["GPE"]
    # partial: predicted GPE p1 PAR, p2 COR → P = (1 + 0.5)/2 = 3/4; R = 1; F = 2·0.75/1.75 = 6/7
    assert gpe_partial["p"] == pytest.approx(0.75)
    assert gpe_partial["f"] == pytest.approx(6 / 7)
    loc = result["strict"]["per_label"]["LOC"]
    assert (loc["MIS"], loc["act"], loc["f"]) == (1, 0, 0.0)


def test_a_prediction_split_in_two_is_scored_the_same_in_either_order():
    # 西藏自治区党委 (ORG) found as 西藏自治区 (GPE) + 党委 (ORG): gold g is INC under strict (no same
    # bounds) but COR under type (党委 overlaps it with type ORG); predictions: 西藏自治区 INC/INC,
    # 党委 INC/COR. type: P = 1/2, R = 1/1, F = 2/3. partial: gold PAR, both predictions PAR:
    # P = (0.5·2)/2 = 1/2, R = 0.5/1 = 1/2.
    gold = [[Ent(0, 7, "ORG")]]
    pred = [Ent(0, 5, "GPE"), Ent(5, 7, "ORG")]
    for order in (pred, pred[::-1]):
        result = score(gold, [order], LABELS)
        assert result["strict"]["micro"]["f"] == 0.0
        assert result["type"]["micro"]["p"] == pytest.approx(0.5)
        assert result["type"]["micro"]["r"] == pytest.approx(1.0)
        assert result["type"]["micro"]["f"] == pytest.approx(2 / 3)
        assert (result["partial"]["micro"]["p"], result["partial"]["micro"]["r"]) == pytest.approx((0.5, 0.5))


def test_nothing_predicted_and_nothing_to_find_scores_zero_without_dividing_by_zero():
    result = score([[]], [[]], LABELS)
    assert result["strict"]["micro"]["f"] == 0.0
    assert result["partial"]["per_label"]["ORG"]["p"] == 0.0


def test_micro_scores_agree_with_nervaluate_when_overlaps_are_one_to_one():
    nervaluate = pytest.importorskip("nervaluate")
    rng = random.Random(7)
    gold_docs, pred_docs = [], []
    for _ in range(40):
        gold, pred = [], []
        for slot in range(6):  # one entity per 10-character slot: overlaps stay one-to-one
            base = slot * 10
            kind = rng.choice(["same", "type", "shift", "miss", "spurious", "none"])
            g = Ent(base + 1, base + 5, rng.choice(LABELS))
            if kind != "spurious" and kind != "none":
                gold.append(g)
            if kind == "same":
                pred.append(g)
            elif kind == "type":
                pred.append(Ent(g.start, g.end, rng.choice([x for x in LABELS if x != g.label])))
            elif kind == "shift":
                pred.append(Ent(g.start + rng.choice([-1, 1]), g.end, rng.choice(LABELS)))
            elif kind == "spurious":
                pred.append(Ent(base + 2, base + 4, rng.choice(LABELS)))
        gold_docs.append(gold)
        pred_docs.append(pred)

    def as_dicts(docs):  # nervaluate counts inclusive end offsets
        return [[{"label": e.label, "start": e.start, "end": e.end - 1} for e in doc] for doc in docs]

    theirs = nervaluate.Evaluator(
        as_dicts(gold_docs), as_dicts(pred_docs), tags=LABELS, loader="dict"
    ).evaluate()
    ours = score(gold_docs, pred_docs, LABELS)
    for scheme, their_name in [
        ("strict", "strict"),
        ("exact", "exact"),
        ("partial", "partial"),
        ("type", "ent_type"),
    ]:
        t = theirs["overall"][their_name]
        o = ours[scheme]["micro"]
        assert (o["COR"], o["INC"], o["PAR"], o["MIS"], o["SPU"]) == (
            t.correct,
            t.incorrect,
            t.partial,
            t.missed,
            t.spurious,
        ), scheme
        assert (o["p"], o["r"], o["f"]) == pytest.approx((t.precision, t.recall, t.f1)), scheme


def test_confusion_has_missed_and_spurious():
    docs = [GoldDoc(id="d1", text="x" * 60, ents=GOLD[0]), GoldDoc(id="d2", text="x" * 10, ents=[])]
    conf = confusion(docs, PRED, LABELS)
    assert conf["rows"] == [*LABELS, "SPURIOUS"]
    assert conf["columns"] == [*LABELS, "MISSED"]
    cell = {
        (r, c): conf["matrix"][i][j]
        for i, r in enumerate(conf["rows"])
        for j, c in enumerate(conf["columns"])
    }
    assert cell[("ORG", "GPE")] == 1  # 西藏自治区党委-like: gold ORG found as GPE
    assert cell[("GPE", "GPE")] == 1
    assert cell[("DATE", "QUANTITY")] == 1
    assert cell[("QUANTITY", "QUANTITY")] == 1
    assert cell[("LOC", "MISSED")] == 1
    assert cell[("SPURIOUS", "ORG")] == 2
    assert sum(map(sum, conf["matrix"])) == 5 + 2  # every gold entity once, plus the spurious ones


def test_boundary_error_names_the_gold_and_the_found_entity():
    text = "西藏自治区党委召开会议"
    doc = GoldDoc(id="a-000-00", text=text, ents=[Ent(0, 7, "ORG")])
    errors = error_pairs(doc, [Ent(0, 5, "GPE")])
    assert errors == [
        {
            "doc": "a-000-00",
            "kind": "boundary",
            "gold": {"text": "西藏自治区党委", "label": "ORG", "start": 0, "end": 7},
            "pred": {"text": "西藏自治区", "label": "GPE", "start": 0, "end": 5},
        }
    ]
    assert error_pairs(doc, [Ent(0, 7, "ORG")]) == []


# --- real pipelines: entity rulers over spaCy's character segmenter, saved to disk ----------

TEXTS = {
    "s1": ("西藏自治区党委召开会议。", [("西藏自治区党委", "ORG")]),
    "s2": ("拉萨市投入6万余元。", [("拉萨市", "GPE"), ("6万余元", "QUANTITY")]),
    "s3": ("<b>尼木县</b>的普松村 & 更多", [("尼木县", "GPE"), ("普松村", "GPE")]),
}


def _ruler_pipeline(path: Path, patterns: list[tuple[str, str]]) -> str:
    nlp = spacy.blank("zh")  # character segmenter: no model files needed
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": label, "pattern": text} for text, label in patterns])
    nlp.to_disk(path)
    return str(path)


@pytest.fixture(scope="module")
def eval_setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("evaluate")
    nlp = spacy.blank("zh")
    db = DocBin(store_user_data=True)
    for seg_id, (text, ents) in TEXTS.items():
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(text.index(t), text.index(t) + len(t), label=label) for t, label in ents]
        doc.user_data["segment_id"] = seg_id
        db.add(doc)
    data = root / "test.spacy"
    db.to_disk(data)
    # good: 4 of 5 right, misses 普松村. strict P = 4/4, R = 4/5, F = 8/9.
    # OntoNotes labels on purpose: MONEY must be mapped to QUANTITY, PERSON dropped.
    good_patterns = [
        ("西藏自治区党委", "ORG"),
        ("拉萨市", "GPE"),
        ("6万余元", "MONEY"),
        ("尼木县", "GPE"),
        ("会议", "PERSON"),
    ]
    good = _ruler_pipeline(root / "good", good_patterns)
    # weak: 西藏自治区 GPE (boundary error), 拉萨市 and 尼木县 right, 普松村 as LOC (type error),
    # 6万余元 missed. strict P = 2/4, R = 2/5, F = 4/9.
    weak_patterns = [("西藏自治区", "GPE"), ("拉萨市", "GPE"), ("尼木县", "GPE"), ("普松村", "LOC")]
    weak = _ruler_pipeline(root / "weak", weak_patterns)
    return {"root": root, "data": data, "good": good, "weak": weak}


def test_evaluate_scores_pipelines_and_writes_every_report(eval_setup, tmp_path):
    out = tmp_path / "reports"
    metrics = evaluate(
        model=eval_setup["good"], data=eval_setup["data"], baseline=eval_setup["weak"], out=out
    )
    assert metrics["model"]["strict"]["p"] == pytest.approx(1.0)
    assert metrics["model"]["strict"]["r"] == pytest.approx(0.8)
    assert metrics["model"]["strict"]["f"] == pytest.approx(8 / 9)
    assert metrics["baseline"]["strict"]["f"] == pytest.approx(4 / 9)
    assert metrics["diff"]["per_label"]["QUANTITY"]["strict"] == pytest.approx(1.0)  # MONEY → QUANTITY
    assert metrics["gate"]["passed"] is True

    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for who in ("model", "baseline"):
        assert set(saved[who]["strict"]) >= {"p", "r", "f"}
        assert set(saved[who]["per_label"]) == set(LABELS)
        assert {"exact", "partial", "type"} <= set(saved[who])
    boundary = [e for e in saved["baseline"]["errors"] if e["kind"] == "boundary"]
    assert [
        (e["gold"]["text"], e["gold"]["label"], e["pred"]["text"], e["pred"]["label"]) for e in boundary
    ] == [("西藏自治区党委", "ORG", "西藏自治区", "GPE")]

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Gate PASSED" in md
    assert "| QUANTITY | 1 | 1 | 100.0 | 100.0 | 100.0 | 0.0 | +100.0 |" in md
    assert "| GPE | 0 | 2 | 0 | 0 | 0 | 1 |" in md  # 拉萨市, 尼木县 found; 普松村 missed

    page = (out / "errors.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;" in page and "<b>尼木县</b>" not in page  # the text is escaped
    assert "s1 — gold" in page and "s3 — baseline" in page
    assert (out / "per_label_f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_only_erroneous_documents_are_rendered(eval_setup, tmp_path):
    evaluate(model=eval_setup["good"], data=eval_setup["data"], out=tmp_path)
    page = (tmp_path / "errors.html").read_text(encoding="utf-8")
    assert "s3 — gold" in page  # 普松村 missed
    assert "s1 — gold" not in page and "s2 — gold" not in page


def test_report_files_are_not_overwritten_without_force(eval_setup, tmp_path):
    (tmp_path / "report.md").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["evaluate", eval_setup["good"], str(eval_setup["data"]), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == "keep me"
    result = CliRunner().invoke(
        app, ["evaluate", eval_setup["good"], str(eval_setup["data"]), "--out", str(tmp_path), "--force"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# NER evaluation")


@pytest.mark.parametrize(
    ("model", "baseline", "max_drop", "code"),
    [
        ("good", "weak", "0.01", 0),  # better than the baseline
        ("good", "good", "0", 0),  # equal is not a drop
        ("weak", "good", "0.01", 3),  # F 4/9 vs 8/9: a drop of 0.444
        ("weak", "good", "0.45", 0),  # … within an allowance of 0.45
        ("weak", "good", "0.44", 3),  # … but not of 0.44
    ],
)
def test_gate_exit_codes(eval_setup, tmp_path, model, baseline, max_drop, code):
    args = ["evaluate", eval_setup[model], str(eval_setup["data"]), "--baseline", eval_setup[baseline]]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--max-drop", max_drop])
    assert result.exit_code == code, result.output
    assert ("Gate failed" in result.output) == (code == 3)
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["gate"]["passed"] == (code == 0)


def test_errors_exit_1_with_one_line(eval_setup, tmp_path):
    runner = CliRunner()
    data = str(eval_setup["data"])
    missing_model = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), data, "-o", str(tmp_path)])
    assert missing_model.exit_code == 1
    assert "E205" in missing_model.output
    missing_data = runner.invoke(
        app, ["evaluate", eval_setup["good"], str(tmp_path / "x.spacy"), "-o", str(tmp_path)]
    )
    assert missing_data.exit_code == 1 and "file not found" in missing_data.output
    not_docbin = tmp_path / "bad.spacy"
    not_docbin.write_bytes(b"not a docbin")
    bad = runner.invoke(app, ["evaluate", eval_setup["good"], str(not_docbin), "-o", str(tmp_path / "r")])
    assert bad.exit_code == 1 and "not a spaCy DocBin" in bad.output
    assert not (tmp_path / "r" / "report.json").exists()
    negative = runner.invoke(
        app, ["evaluate", eval_setup["good"], data, "-o", str(tmp_path), "--max-drop", "-0.1"]
    )
    assert negative.exit_code == 1 and "E404" in negative.output


def test_labels_come_from_the_label_scheme():
    assert list(load_labels().labels) == LABELS


def test_a_pipeline_with_zhner_components_is_evaluated_in_a_fresh_process(eval_setup, tmp_path):
    # the pre-annotator carries zhner's pattern component: `zhner evaluate` must register it itself
    import zhner.pipeline.patterns  # noqa: F401  (only to build the pipeline here)

    nlp = spacy.blank("zh")
    nlp.add_pipe("zhner_patterns")
    nlp.to_disk(tmp_path / "preannotator")
    args = [
        sys.executable,
        "-m",
        "zhner",
        "evaluate",
        str(tmp_path / "preannotator"),
        str(eval_setup["data"]),
    ]
    done = subprocess.run([*args, "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    model = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))["model"]
    assert model["strict"]["act"] > 0  # the patterns found some of 6万余元, 拉萨市, …


def test_gold_task_jsonl_scores_as_its_docbin_does(eval_setup, tmp_path):
    """annotations/gold/*.jsonl (the news dev set) is evaluated directly, with the same figures."""
    lines = []
    for seg_id, (text, ents) in TEXTS.items():
        spans = sorted((text.index(t), text.index(t) + len(t), label) for t, label in ents)
        lines.append(json.dumps({"text": text, "label": [list(s) for s in spans],
                                 "meta": {"segment_id": seg_id, "article_id": seg_id, "text_sha1": "0" * 40}},
                                ensure_ascii=False))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_jsonl = evaluate(model=eval_setup["good"], data=gold, baseline=eval_setup["weak"])
    from_docbin = evaluate(model=eval_setup["good"], data=eval_setup["data"], baseline=eval_setup["weak"])
    for who in ("model", "baseline"):
        assert from_jsonl[who]["strict"] == from_docbin[who]["strict"]
    assert from_jsonl["n_gold_entities"] == 5
