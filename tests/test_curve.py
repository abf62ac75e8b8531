"""`zhner train-curve`: real spaCy training on nested parts of a small corpus, scored on held-out docs."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest
import spacy
from spacy.cli.init_config import fill_config
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zhner.cli import app
from zhner.curve import nested_subsets, train_curve
from zhner.errors import ZhnerError

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# A tiny NER pipeline over spaCy's character segmenter: trains in seconds on two cores.
TINY_CONFIG = """
[paths]
train = null
dev = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "zh"
pipeline = ["tok2vec","ner"]
batch_size = 64

[nlp.tokenizer]
@tokenizers = "spacy.zh.ChineseTokenizer"
segmenter = "char"

[components]

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 32
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 2
subword_features = false

[components.ner]
factory = "ner"

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 32
maxout_pieces = 2
use_upper = true
nO = null

[components.ner.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
upstream = "*"

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
dev_corpus = "corpora.dev"
train_corpus = "corpora.train"
seed = ${system.seed}
max_epochs = 2
max_steps = 0
eval_frequency = 20
patience = 0
dropout = 0.1

[training.batcher]
@batchers = "spacy.batch_by_words.v1"
size = 300
tolerance = 0.2

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.005

[training.score_weights]
ents_f = 1.0

[initialize]
vectors = null
"""

# Silver entities for the seed sentences: a gazetteer and two patterns, longest match first.
GAZETTEER = {
    "GPE": [
        "西藏自治区",
        "拉萨市",
        "拉萨",
        "日喀则市",
        "山南市",
        "那曲市",
        "林芝市",
        "昌都市",
        "中国",
        "全区",
        "尼木县",
    ],
    "ORG": ["西藏自治区党委", "党中央", "人民日报", "自治区党委", "区党委"],
}
PATTERNS = {
    "DATE": re.compile(r"(\d{4}年)?\d{1,2}月\d{1,2}日|\d{4}年|今年|近年来"),
    "QUANTITY": re.compile(r"\d+(\.\d+)?(万|亿)?余?(人次|人|个|名|元|场|次|家|项|吨|平方米|公里)"),
}


def silver_spans(text: str) -> list[tuple[int, int, str]]:
    found = [
        (m.start(), m.end(), label)
        for label, words in GAZETTEER.items()
        for w in words
        for m in re.finditer(re.escape(w), text)
    ]
    found += [(m.start(), m.end(), label) for label, rx in PATTERNS.items() for m in rx.finditer(text)]
    kept: list[tuple[int, int, str]] = []
    for s, e, label in sorted(found, key=lambda x: (x[0] - x[1], x[0])):
        if all(e <= a or s >= b for a, b, _ in kept):
            kept.append((s, e, label))
    return sorted(kept)


@pytest.fixture(scope="module")
def curve_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("curve")
    sentences = [
        s
        for p in sorted(SEEDS.glob("*.txt"))
        for raw in p.read_text(encoding="utf-8").splitlines()
        for s in re.split(r"(?<=[。！？])", raw.strip())
        if 10 <= len(s) <= 120
    ]
    nlp = spacy.blank("zh")
    docs = []
    for i, text in enumerate(sentences):
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in silver_spans(text)]
        doc.user_data["segment_id"] = f"s{i:03d}"
        docs.append(doc)
    # every 5th sentence is held out for test, every 5th of the rest for dev
    parts = {
        "test": docs[::5],
        "dev": [d for i, d in enumerate(docs) if i % 5 and i % 5 == 1],
        "train": [d for i, d in enumerate(docs) if i % 5 > 1],
    }
    paths = {}
    for name, part in parts.items():
        paths[name] = root / f"{name}.spacy"
        DocBin(docs=part, store_user_data=True).to_disk(paths[name])
    (root / "base.cfg").write_text(TINY_CONFIG, encoding="utf-8")
    fill_config(root / "tiny.cfg", root / "base.cfg", silent=True)
    paths["config"] = root / "tiny.cfg"
    paths["n_train"] = len(parts["train"])  # type: ignore[assignment]
    return paths


def test_subsets_are_nested_seeded_and_cover_everything():
    subsets = nested_subsets(10, [0.25, 0.5, 0.75, 1.0], seed=3)
    assert [len(s) for s in subsets] == [3, 5, 8, 10]  # ceil(2.5), 5, ceil(7.5), 10
    for small, large in zip(subsets, subsets[1:]):
        assert set(small) < set(large)
    assert subsets[-1] == list(range(10))
    assert nested_subsets(10, [0.25], seed=3) == subsets[:1]
    assert nested_subsets(10, [0.25], seed=4) != subsets[:1]


def test_train_curve_trains_four_models_and_writes_table_and_chart(curve_data, tmp_path):
    out = tmp_path / "reports"
    result = train_curve(
        config=curve_data["config"],
        train=curve_data["train"],
        dev=curve_data["dev"],
        test=curve_data["test"],
        out=out,
    )
    n = curve_data["n_train"]
    assert [s["fraction"] for s in result["steps"]] == [0.25, 0.5, 0.75, 1.0]
    assert {s["model"] for s in result["steps"]} == {"model-best"}  # selected on dev, held out
    assert [s["docs"] for s in result["steps"]] == [math.ceil(f * n) for f in (0.25, 0.5, 0.75, 1.0)]
    for step in result["steps"]:
        assert 0.0 <= step["strict"]["f"] <= step["partial"]["f"] <= 1.0
        assert step["train_seconds"] > 0
    saved = json.loads((out / "curve.json").read_text(encoding="utf-8"))["steps"]
    assert [(s["docs"], s["strict"]["f"]) for s in saved] == [
        (s["docs"], pytest.approx(s["strict"]["f"])) for s in result["steps"]
    ]
    md = (out / "curve.md").read_text(encoding="utf-8")
    assert f"| 100 % | {n} |" in md and "| 25 % |" in md
    assert (out / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_passes_config_overrides_to_spacy_and_the_full_model_learns(curve_data, tmp_path):
    # ten epochs on all the data: a model that trained and was scored on the test docs finds entities
    args = [
        "train-curve",
        str(curve_data["config"]),
        "--train",
        str(curve_data["train"]),
        "--dev",
        str(curve_data["dev"]),
        "--test",
        str(curve_data["test"]),
        "--out",
        str(tmp_path),
        "--fractions",
        "0.25,1",
        "--training.max_epochs",
        "10",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "curve.json").read_text(encoding="utf-8"))
    assert saved["overrides"] == {"training.max_epochs": 10}
    assert saved["steps"][-1]["strict"]["f"] > 0.1
    assert "100 %" in result.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.output


def test_a_config_that_trains_on_dev_gets_its_parts_from_train_and_dev_pooled(curve_data, tmp_path):
    from spacy.util import load_config

    cfg = load_config(curve_data["config"], interpolate=False)
    cfg["corpora"]["train"] = {
        "@readers": "zhner.MixedCorpus.v1", "gold_path": "${paths.train}", "silver_path": None, "silver_limit": 0,
        "gold_repeat": 1, "seed": 0, "train_on_dev": True, "dev_path": "${paths.dev}",
    }  # fmt: skip
    cfg["training"]["max_steps"] = 20
    pooled_cfg = tmp_path / "pooled.cfg"
    cfg.to_disk(pooled_cfg)
    n = curve_data["n_train"] + len(DocBin().from_disk(curve_data["dev"]))
    result = train_curve(config=pooled_cfg, train=curve_data["train"], dev=curve_data["dev"],
                         test=curve_data["test"], out=tmp_path / "out", fractions=[0.5, 1.0])  # fmt: skip
    assert result["dev_pooled_into_train"] is True
    assert {s["model"] for s in result["steps"]} == {"model-last"}
    assert [s["docs"] for s in result["steps"]] == [math.ceil(n / 2), n]
    # the reader must not add the dev documents a second time on top of the pooled parts
    assert result["overrides"] == {"corpora.train.train_on_dev": False}
    assert "and the dev documents, pooled" in (tmp_path / "out" / "curve.md").read_text(encoding="utf-8")


def test_too_few_documents_and_a_bad_config_are_reported(curve_data, tmp_path):
    few = tmp_path / "few.spacy"
    DocBin(docs=[spacy.blank("zh").make_doc("拉萨")]).to_disk(few)
    with pytest.raises(ZhnerError, match=r"E420.*1 training documents; train-curve needs at least 4"):
        train_curve(
            config=curve_data["config"],
            train=few,
            dev=curve_data["dev"],
            test=curve_data["test"],
            out=tmp_path,
        )
    bad = tmp_path / "bad.cfg"
    bad.write_text(TINY_CONFIG, encoding="utf-8")  # not filled: spaCy refuses it, we name the step
    with pytest.raises(ZhnerError, match=r"E421\] spaCy training on 25% of the documents failed"):
        train_curve(
            config=bad,
            train=curve_data["train"],
            dev=curve_data["dev"],
            test=curve_data["test"],
            out=tmp_path,
        )
    assert not (tmp_path / "curve.json").exists()


def test_asking_for_a_gpu_without_one_is_one_clear_error(curve_data, tmp_path):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("cupy is installed: --gpu-id would train on the GPU")
    with pytest.raises(ZhnerError, match=r"E422\] --gpu-id 0: no usable GPU"):
        train_curve(
            config=curve_data["config"],
            train=curve_data["train"],
            dev=curve_data["dev"],
            test=curve_data["test"],
            out=tmp_path,
            use_gpu=0,
        )
    assert not (tmp_path / "curve.json").exists()


@pytest.mark.parametrize(
    "last_f, verdict",
    [(0.80, "more annotation still helps"), (0.705, "the curve is flat here"), (0.60, "made it worse")],
)
def test_the_verdict_weighs_the_last_step_against_two_test_entities(last_f, verdict):
    from zhner.curve import render_curve_markdown

    def step(fraction: float, f: float) -> dict:
        s = {"p": f, "r": f, "f": f}
        return {"fraction": fraction, "docs": int(40 * fraction), "strict": s, "partial": s, "train_seconds": 1.0}

    # 200 test entities: two of them move F by about 1 point, so +0.5 is no evidence either way
    result = {"config": "c.cfg", "train": "t.spacy", "test": "x.spacy", "train_docs": 40, "test_docs": 50,
              "test_entities": 200, "steps": [step(0.75, 0.70), step(1.0, last_f)]}  # fmt: skip
    assert verdict in render_curve_markdown(result)
