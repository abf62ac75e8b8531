"""configs/ner.cfg and ner_gpu.cfg: the mixed gold+silver reader, `spacy debug config`, and a tiny
real `python -m spacy train` run (no --code: the reader and the pattern factory come from entry
points) on a tiny base pipeline built here the way `zhner bootstrap` builds zh_news_base."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import load_config

from zhner.mixed_corpus import create_mixed_corpus

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SEEDS = REPO / "seeds"

SEEDED_TRAIN = (
    "import random, sys, numpy\n"
    "random.seed(0); numpy.random.seed(0)\n"
    "import spacy_pkuseg\n"
    "spacy_pkuseg.train(sys.argv[1], sys.argv[2], sys.argv[3], train_iter=1)\n"
)
# (text, [(surface, label)]) gold sentences in the guidelines' style
GOLD = [
    ("西藏自治区党委在拉萨市召开会议。", [("西藏自治区党委", "ORG"), ("拉萨市", "GPE")]),
    ("2月21日上午，尼木县捐赠12吨物资。", [("2月21日上午", "DATE"), ("尼木县", "GPE"), ("12吨", "QUANTITY")]),
    ("游客在祁连山下参观。", [("祁连山", "LOC")]),
    ("西藏日报社投入6万余元。", [("西藏日报社", "ORG"), ("6万余元", "QUANTITY")]),
]


def jieba_lines() -> list[str]:
    import jieba

    jieba.setLogLevel(60)
    lines = []
    for path in sorted(SEEDS.glob("*.txt")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            for sentence in re.split(r"(?<=[。！？；])", raw.strip()):
                if len(sentence.strip()) >= 8:
                    lines.append(" ".join(w for w in jieba.cut(sentence.strip()) if w.strip()))
    return lines


def gold_docbin(nlp: spacy.Language, rows: list[tuple[str, list[tuple[str, str]]]]) -> DocBin:
    db = DocBin()
    for text, ents in rows:
        doc = nlp.make_doc(text)
        spans = [doc.char_span(text.index(s), text.index(s) + len(s), label=lab, alignment_mode="expand") for s, lab in ents]
        doc.ents = spacy.util.filter_spans(spans)
        db.add(doc)
    return db


def silver_docbin(nlp: spacy.Language, n: int) -> DocBin:
    """Silver-like docs over given words (as zhner silver-export writes them): one GPE each."""
    db = DocBin()
    for i in range(n):
        words = ["北京", "市", "第", str(i), "次", "会议"]
        doc = Doc(nlp.vocab, words=words, spaces=[False] * len(words))
        doc.ents = [Span(doc, 0, 2, label="GPE")]
        db.add(doc)
    return db


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny zh_news_base: pkuseg trained here (seconds) + tok2vec/NER from configs/silver_ner.cfg."""
    root = tmp_path_factory.mktemp("ner-base")
    lines = jieba_lines()
    (root / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "test.txt").write_text("\n".join(lines[::20]) + "\n", encoding="utf-8")
    (root / "pkuseg").mkdir()
    subprocess.run([sys.executable, "-c", SEEDED_TRAIN, "train.txt", "test.txt", str(root / "pkuseg")],
                   cwd=root, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True, capture_output=True)  # fmt: skip
    from spacy.training.initialize import init_nlp

    tok = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "pkuseg"}}})
    tok.tokenizer.initialize(pkuseg_model=str(root / "pkuseg"))
    gold_docbin(tok, GOLD).to_disk(root / "train.spacy")
    gold_docbin(tok, GOLD[:2]).to_disk(root / "dev.spacy")
    silver_docbin(tok, 30).to_disk(root / "silver.spacy")
    cfg = load_config(CONFIGS / "silver_ner.cfg", overrides={
        "paths.train": str(root / "train.spacy"), "paths.dev": str(root / "dev.spacy"),
        "paths.pkuseg_model": str(root / "pkuseg"),
    })  # fmt: skip
    nlp = init_nlp(cfg)
    nlp.to_disk(root / "base")
    return {"root": root, "base": root / "base", "train": root / "train.spacy", "dev": root / "dev.spacy",
            "silver": root / "silver.spacy"}  # fmt: skip


def overrides(base: dict[str, Path]) -> list[str]:
    return ["--paths.train", str(base["train"]), "--paths.dev", str(base["dev"]),
            "--paths.base_model", str(base["base"]), "--paths.silver", str(base["silver"])]  # fmt: skip


def reader(base: dict[str, Path], **kw):
    args = {"gold_path": base["train"], "silver_path": base["silver"], "silver_limit": 5, "gold_repeat": 3, "seed": 1}
    return create_mixed_corpus(**{**args, **kw})


def texts(examples: list[Example]) -> list[str]:
    return [eg.reference.text for eg in examples]


def test_mixed_corpus_repeats_gold_and_samples_silver(base):
    nlp = spacy.load(base["base"])
    epoch = list(reader(base)(nlp))
    gold_texts = [t for t, _ in GOLD]
    assert len(epoch) == 3 * len(GOLD) + 5
    assert all(texts(epoch).count(t) == 3 for t in gold_texts)
    silver = [t for t in texts(epoch) if t not in gold_texts]
    assert len(silver) == 5 and all(t.startswith("北京市第") for t in silver)
    # the gold entities survive the reader (tokenised by the base pipeline's pkuseg)
    ents = {(e.text, e.label_) for eg in epoch for e in eg.reference.ents}
    assert ("西藏自治区党委", "ORG") in ents and ("12吨", "QUANTITY") in ents


def test_mixed_corpus_new_silver_sample_each_epoch_same_for_same_seed(base):
    nlp = spacy.load(base["base"])
    corpus = reader(base)
    first, second = texts(list(corpus(nlp))), texts(list(corpus(nlp)))
    assert sorted(first) != sorted(second)  # another silver sample in the second epoch
    assert texts(list(reader(base)(nlp))) == first  # seeded: a fresh reader repeats the first epoch


def test_mixed_corpus_limits(base):
    nlp = spacy.load(base["base"])
    assert len(list(reader(base, silver_limit=-1)(nlp))) == 3 * len(GOLD) + 30
    assert len(list(reader(base, silver_limit=0)(nlp))) == 3 * len(GOLD)
    assert len(list(reader(base, silver_path=None)(nlp))) == 3 * len(GOLD)
    with pytest.raises(ValueError, match="not found"):
        reader(base, silver_path=base["root"] / "missing.spacy")


def test_mixed_corpus_trains_on_dev_when_asked(base):
    nlp = spacy.load(base["base"])
    epoch = list(reader(base, train_on_dev=True, dev_path=base["dev"])(nlp))
    assert len(epoch) == 3 * (len(GOLD) + 2) + 5  # the two dev docs join the gold, repeated as it is
    assert texts(epoch).count(GOLD[0][0]) == 6  # once from train, once from dev, three times each
    with pytest.raises(ValueError, match="dev_path is null"):
        reader(base, train_on_dev=True)
    with pytest.raises(ValueError, match="dev file .* not found"):
        reader(base, train_on_dev=True, dev_path=base["root"] / "missing.spacy")


def test_shipped_configs_fit_on_train_and_dev_and_name_model_last():
    from zhner.mixed_corpus import last_model_if_trained_on_dev, trains_on_dev

    for name in ("ner.cfg", "ner_gpu.cfg"):
        cfg = load_config(CONFIGS / name, interpolate=False)
        assert trains_on_dev(cfg), name
        assert cfg["corpora"]["train"]["dev_path"] == "${paths.dev}"
        assert last_model_if_trained_on_dev(cfg, Path("models/ner")) == Path("models/ner/model-last")
    project = (REPO / "project.yml").read_text(encoding="utf-8")
    assert "zhner evaluate ${vars.ner_model}/model-last" in project


@pytest.mark.parametrize("config", ["ner.cfg", "ner_gpu.cfg"])
def test_spacy_debug_config_passes(base, config):
    proc = subprocess.run([sys.executable, "-m", "spacy", "debug", "config", str(CONFIGS / config), *overrides(base)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Config is valid" in proc.stdout


def test_gpu_config_is_the_cpu_model_on_the_gpu():
    cpu, gpu = load_config(CONFIGS / "ner.cfg"), load_config(CONFIGS / "ner_gpu.cfg")
    assert gpu["training"]["batcher"]["size"]["stop"] > cpu["training"]["batcher"]["size"]["stop"]
    assert cpu["nlp"]["pipeline"] == gpu["nlp"]["pipeline"]
    assert cpu["components"] == gpu["components"]


def test_spacy_train_fine_tunes_the_base_model(base, tmp_path):
    """`python -m spacy train configs/ner.cfg` as documented (few steps), then load it in a fresh process."""
    out = tmp_path / "ner"
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(CONFIGS / "ner.cfg"), "--output", str(out), *overrides(base),
         "--training.max_steps", "6", "--training.eval_frequency", "3", "--corpora.train.silver_limit", "10"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "model-best" / "meta.json").exists() and (out / "model-last" / "meta.json").exists()
    check = (
        "import json, spacy, sys\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "doc = nlp('西藏自治区党委在拉萨市召开会议，投入6万余元。')\n"
        "print(json.dumps({'pipe': nlp.pipe_names, 'labels': sorted(nlp.get_pipe('ner').labels),\n"
        "                  'ents': [e.text for e in doc.ents],\n"
        "                  'pattern_spans': [s.text for s in doc.spans.get('zhner_patterns', [])],\n"
        "                  'tokens': [t.text for t in nlp.make_doc('西藏自治区党委在拉萨市召开会议')]}))\n"
    )
    # the config fits on train + dev: model-last is the model (see its [corpora.train] train_on_dev)
    loaded = subprocess.run([sys.executable, "-c", check, str(out / "model-last")], capture_output=True, text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    info = json.loads(loaded.stdout)
    assert info["pipe"] == ["tok2vec", "ner", "zhner_patterns", "zhner_span_rules"]  # as zh_news_base
    assert {"ORG", "GPE", "QUANTITY"} <= set(info["labels"])
    # the tokenizer is the base pipeline's pkuseg model, not pkuseg's default or characters
    base_tokens = [t.text for t in spacy.load(base["base"]).make_doc("西藏自治区党委在拉萨市召开会议")]
    assert info["tokens"] == base_tokens and any(len(t) > 1 for t in base_tokens)
    # the pattern layer runs in the trained pipeline (after the NER, filling gaps: a tiny test NER may
    # already hold those characters, so its matches are checked where it keeps them)
    assert "6万余元" in info["pattern_spans"]


def test_the_small_run_s_config_differs_from_ner_cfg_only_in_the_arrangement(repo_root):
    """configs/ci/ner.cfg fine-tunes the small CI base, whose arrangement is patterns+model."""
    from thinc.api import Config

    main = Config().from_disk(repo_root / "configs" / "ner.cfg", interpolate=False)
    small = Config().from_disk(repo_root / "configs" / "ci" / "ner.cfg", interpolate=False)
    assert small["nlp"]["pipeline"] == ["zhner_patterns", "tok2vec", "ner", "zhner_span_rules"]
    assert main["nlp"]["pipeline"] == ["tok2vec", "ner", "zhner_patterns", "zhner_span_rules"]
    small["nlp"]["pipeline"] = main["nlp"]["pipeline"]
    assert small == main
