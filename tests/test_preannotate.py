"""`zhner preannotate`: Doccano tasks from real spaCy pipelines the tests build (no mocks)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from zhner import confidence
from zhner.cli import app
from zhner.config import load_labels
from zhner.errors import ZhnerError
from zhner.io import read_jsonl
from zhner.preannotate import doc_spans, preannotate
from zhner.schemas import Segment, Task

TEXTS = [
    "新华社北京电，国务院总理在北京会见了美国客人。",
    "西藏自治区党委在拉萨召开会议，投资6万余元。",
    "中国人民银行今天在上海宣布新的政策。",
]


def write_segments(path: Path, texts: list[str]) -> Path:
    records = [
        Segment(id=f"art{i}-000-00", article_id=f"art{i}", paragraph=0, start=0, end=len(t), text=t).model_dump()
        for i, t in enumerate(texts)
    ]
    srsly.write_jsonl(path, records)
    return path


@pytest.fixture
def segments(tmp_path: Path) -> Path:
    return write_segments(tmp_path / "segments.jsonl", TEXTS)


def test_foreign_labels_are_mapped_and_meta_complete(segments, ontonotes_pipeline, tmp_path):
    out = tmp_path / "tasks" / "demo.jsonl"
    summary = preannotate(segments=segments, model=str(ontonotes_pipeline), out=out)
    tasks = list(read_jsonl(out, Task))
    assert [t.text for t in tasks] == TEXTS
    assert tasks[0].label == [(0, 3, "ORG"), (3, 5, "GPE"), (13, 15, "GPE")]  # PERSON and NORP dropped
    assert tasks[1].label == [(8, 10, "LOC"), (17, 21, "QUANTITY")]  # FAC → LOC, MONEY → QUANTITY
    meta = tasks[1].meta
    assert (meta.segment_id, meta.article_id) == ("art1-000-00", "art1")
    assert meta.text_sha1 == hashlib.sha1(TEXTS[1].encode("utf-8")).hexdigest()
    assert (meta.model, meta.model_version) == ("zh_onto_demo", "3.2.1")
    assert {s.source for s in meta.spans} == {"model"}
    assert summary.dropped_labels == {"PERSON": 1, "NORP": 1}


def test_model_spans_carry_beam_scores(segments, ner_pipeline, tmp_path):
    out = tmp_path / "tasks.jsonl"
    preannotate(segments=segments, model=str(ner_pipeline), out=out)
    tasks = list(read_jsonl(out, Task))
    assert (0, 6, "ORG") in tasks[2].label
    for task in tasks:
        assert [s.as_triple() for s in task.meta.spans] == task.label
        for span in task.meta.spans:
            assert span.source == "model" and 0.0 < span.score <= 1.0


def test_only_documents_with_model_entities_are_beam_parsed(ner_pipeline):
    nlp = spacy.load(ner_pipeline)
    nlp.add_pipe(confidence.FACTORY, after="ner")
    scorer, ner = nlp.get_pipe(confidence.FACTORY), nlp.get_pipe("ner")
    model_doc = ner(nlp.make_doc(TEXTS[2]))
    assert model_doc.ents, "the tiny NER should find its training entities"
    alone = dict(next(scorer.pipe([ner(nlp.make_doc(TEXTS[2]))])).user_data[confidence.USER_DATA_KEY])
    pattern_doc = nlp.make_doc("西藏自治区党委召开会议")
    pattern_doc.ents = [pattern_doc.char_span(0, 7, label="ORG")]
    pattern_doc.spans["zhner_patterns"] = [pattern_doc.char_span(0, 7, label="ORG")]
    empty_doc = nlp.make_doc("")
    list(scorer.pipe([pattern_doc, model_doc, empty_doc]))
    assert pattern_doc.user_data[confidence.USER_DATA_KEY] == {}
    assert empty_doc.user_data[confidence.USER_DATA_KEY] == {}
    # a document's scores do not depend on the documents scored beside it
    assert model_doc.user_data[confidence.USER_DATA_KEY] == alone
    assert confidence.ent_score(model_doc, 0, 6, "ORG") > 0.0


def test_several_processes_write_the_same_tasks(segments, ner_pipeline, tmp_path):
    one = preannotate(segments=segments, model=str(ner_pipeline), out=tmp_path / "one.jsonl", batch_size=1)
    two = preannotate(segments=segments, model=str(ner_pipeline), out=tmp_path / "two.jsonl", n_process=2)
    assert one.tasks == two.tasks == 3
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()


def test_pattern_spans_are_attributed_to_patterns():
    nlp = spacy.blank("zh")
    doc = nlp("西藏自治区党委召开会议")
    doc.ents = [doc.char_span(0, 7, label="ORG")]
    doc.spans["zhner_patterns"] = [doc.char_span(0, 7, label="ORG")]
    spans = doc_spans(doc, load_labels(), "ontonotes")
    assert [(s.as_triple(), s.source, s.score) for s in spans] == [((0, 7, "ORG"), "pattern", 1.0)]


def test_existing_output_is_not_overwritten(segments, ontonotes_pipeline, tmp_path):
    out = tmp_path / "tasks.jsonl"
    out.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match="E001"):
        preannotate(segments=segments, model=str(ontonotes_pipeline), out=out)
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_bad_segment_line_is_named(tmp_path, ontonotes_pipeline):
    bad = tmp_path / "segments.jsonl"
    bad.write_text(json.dumps({"id": "x", "article_id": "a", "paragraph": 0, "start": 0, "end": 5, "text": "北京"})
                   + "\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"segments\.jsonl:1: .*characters"):
        preannotate(segments=bad, model=str(ontonotes_pipeline), out=tmp_path / "t.jsonl")


def test_cli_writes_tasks_and_reports_unknown_models(segments, ontonotes_pipeline, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli.jsonl"
    result = runner.invoke(app, ["preannotate", str(segments), "--model", str(ontonotes_pipeline), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 tasks" in result.output and out.exists()
    result = runner.invoke(app, ["preannotate", str(segments), "--model", "zh_no_such_model", "--out", str(out), "-F"])
    assert result.exit_code == 1 and "E205" in result.output
