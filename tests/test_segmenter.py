"""A real pkuseg model trained on a slice of the corpus: segments news, is cached by input."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
import spacy_pkuseg

from zhner.pipeline.corpus import fetch_peoples_daily, read_corpus, words
from zhner.pipeline.segmenter import model_info, train_pkuseg


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [" ".join(words(s)) for s in read_corpus(fetch_peoples_daily())[:300]]


@pytest.fixture(scope="module")
def model(lines, tmp_path_factory) -> Path:
    return train_pkuseg(lines, tmp_path_factory.mktemp("pkuseg"), iterations=2)


def test_tiny_model_segments_news_like_its_training_data(model):
    seg = spacy_pkuseg.pkuseg(model_name=str(model))
    assert seg.cut("中共中央总书记、国家主席江泽民发表新年讲话") == [
        "中共中央", "总书记", "、", "国家", "主席", "江泽民", "发表", "新年", "讲话",
    ]


def test_model_works_as_spacy_tokenizer(model):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "pkuseg"}}})
    nlp.tokenizer.initialize(pkuseg_model=str(model))
    doc = nlp("国务院总理今天在北京会见了美国客人")
    assert doc.text == "国务院总理今天在北京会见了美国客人"
    assert "北京" in [t.text for t in doc]


def test_same_input_is_not_retrained(model, lines):
    before = (model / "weights.npz").stat().st_mtime_ns
    assert train_pkuseg(lines, model, iterations=2) == model
    assert (model / "weights.npz").stat().st_mtime_ns == before
    info = model_info(model)
    assert info["iterations"] == 2 and len(info["test_f1_per_iteration"]) == 2
    assert info["test_f1_per_iteration"][-1] > 90


def test_reports_progress_per_iteration(lines, tmp_path):
    seen: list[tuple[int, float]] = []
    train_pkuseg(lines[:60], tmp_path / "m", iterations=1, on_iteration=lambda i, f: seen.append((i, f)))
    assert [i for i, _ in seen] == [0] and 0 < seen[0][1] <= 100


def test_same_seed_same_weights(model, lines, tmp_path):
    # pkuseg shuffles its training lines with the `random` module: seeded, two trainings agree
    import numpy

    again = train_pkuseg(lines, tmp_path / "again", iterations=2)
    first, second = numpy.load(model / "weights.npz"), numpy.load(again / "weights.npz")
    assert sorted(first.files) == sorted(second.files)
    assert all(numpy.array_equal(first[k], second[k]) for k in first.files)
    assert model_info(again)["test_f1_per_iteration"] == model_info(model)["test_f1_per_iteration"]
