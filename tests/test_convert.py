"""`zhner convert`: corrected JSONL → DocBins by article split, with every misaligned span listed.

Tokenisation is real: a small pkuseg model trained (seeded) in a module fixture on the seed
articles segmented by jieba. Being small, it cuts through several entities, which is the W030 case
each policy must handle.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zhner.cli import app
from zhner.convert import convert, cut_tokens
from zhner.errors import ZhnerError

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# segment id → (text, spans); the article is the part before '-<paragraph>-<part>'.
# Articles: A → train, B → dev, C → test (see the splits fixture).
RECORDS = {
    "A-000-00": ("那曲市色尼区", [(0, 3, "GPE"), (3, 6, "GPE")]),
    "A-001-00": ("普松村村民", [(0, 3, "GPE")]),
    "A-002-00": ("赴京参加会议", [(1, 2, "GPE")]),
    "A-003-00": ("西藏日报社", [(0, 5, "ORG")]),
    "B-000-00": ("拉萨市区的群众", [(0, 3, "GPE")]),
    "B-001-00": ("中国西藏网报道", [(0, 5, "ORG")]),
    "B-002-00": ("广场占地2700平方米", [(4, 11, "QUANTITY")]),
    "C-000-00": ("西藏自治区党委召开会议", [(0, 7, "ORG")]),
    "C-001-00": ("来拉萨市工作，投入6万余元", [(1, 4, "GPE"), (9, 13, "QUANTITY")]),
}
# what the fixture's tokenizer does to the misaligned spans: (segment, span text) → tokens it cuts
CUTS = {
    ("A-000-00", "那曲市"): ["市色"],  # 那曲 | 市色 | 尼区
    ("A-000-00", "色尼区"): ["市色"],
    ("A-001-00", "普松村"): ["村村"],  # 普松 | 村村 | 民
    ("A-002-00", "京"): ["赴京"],  # 赴京 | 参加 | 会议: the entity is inside one token
    ("B-000-00", "拉萨市"): ["市区"],  # 拉萨 | 市区 | 的 | 群众
    ("B-001-00", "中国西藏网"): ["网报"],  # 中国 | 西藏 | 网报 | 道
}


# pkuseg's trainer shuffles with the unseeded global RNGs, so two trainings on the same lines
# segment differently; seeded in a child process (its settings are a module-level singleton)
# the model, and so every expected token below, is the same on every run.
SEEDED_TRAIN = (
    "import random, sys, numpy\n"
    "random.seed(0); numpy.random.seed(0)\n"
    "import spacy_pkuseg\n"
    "spacy_pkuseg.train(sys.argv[1], sys.argv[2], sys.argv[3], train_iter=1)\n"
)


def jieba_lines() -> list[str]:
    """The seed articles' sentences, segmented by jieba (which ships its dictionary) into words."""
    import jieba

    jieba.setLogLevel(60)
    lines = []
    for path in sorted(SEEDS.glob("*.txt")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            raw = raw.strip()
            if len(raw) < 8:  # headers, dates, navigation
                continue
            for sentence in re.split(r"(?<=[。！？；])", raw):
                if len(sentence.strip()) >= 4:
                    lines.append(" ".join(w for w in jieba.cut(sentence.strip()) if w.strip()))
    return lines


@pytest.fixture(scope="module")
def pkuseg_pipeline(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A spaCy 'zh' pipeline whose tokenizer is a pkuseg model trained here (seconds) on jieba's words."""
    root = tmp_path_factory.mktemp("pkuseg")
    lines = jieba_lines()
    (root / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "test.txt").write_text("\n".join(lines[::20]) + "\n", encoding="utf-8")
    model_dir = root / "model"
    model_dir.mkdir()
    subprocess.run(
        [sys.executable, "-c", SEEDED_TRAIN, "train.txt", "test.txt", str(model_dir)],
        cwd=root,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
        capture_output=True,
    )
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "pkuseg"}}})
    nlp.tokenizer.initialize(pkuseg_model=str(model_dir))
    nlp.to_disk(root / "pipeline")
    return str(root / "pipeline")


@pytest.fixture()
def corrected(tmp_path: Path) -> dict[str, Path]:
    """A corrected JSONL in zhner's Task shape (as `zhner doccano pull` writes it) and its splits.json."""
    records = [
        {
            "text": text,
            "label": [list(s) for s in spans],
            "meta": {"segment_id": seg, "article_id": seg[0], "text_sha1": "x", "annotator": "ann1"},
        }
        for seg, (text, spans) in RECORDS.items()
    ]
    jsonl = tmp_path / "corrected" / "ann1.jsonl"
    jsonl.parent.mkdir()
    srsly.write_jsonl(jsonl, records)
    splits = tmp_path / "splits.json"
    srsly.write_json(
        splits,
        {
            "seed": 13,
            "ratios": {"train": 0.7, "dev": 0.15, "test": 0.15},
            "pinned_test": ["C"],
            "articles": {"A": "train", "B": "dev", "C": "test"},
            "duplicates": {"D": "train"},
        },
    )
    return {"jsonl": jsonl, "splits": splits, "out": tmp_path / "corpus"}


def read_docs(path: Path) -> dict[str, tuple[list[str], list[tuple[str, str]]]]:
    """segment id → (tokens, [(entity text, label)]) of a written DocBin."""
    docs = DocBin().from_disk(path).get_docs(spacy.blank("zh").vocab)
    return {
        d.user_data["segment_id"]: ([t.text for t in d], [(e.text, e.label_) for e in d.ents]) for d in docs
    }


def outcomes(summary) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(m.segment_id, m.text): (m.outcome, m.result) for m in summary.misaligned}


def run(corrected: dict[str, Path], pipeline: str, policy: str, **kw):
    return convert(
        [corrected["jsonl"]],
        corrected["out"],
        splits=corrected["splits"],
        model=pipeline,
        misaligned=policy,
        **kw,
    )


def test_the_fixture_tokenizer_cuts_through_these_entities(pkuseg_pipeline):
    nlp = spacy.load(pkuseg_pipeline)
    found = {}
    for seg, (text, spans) in RECORDS.items():
        doc = nlp.make_doc(text)
        for start, end, _ in spans:
            if doc.char_span(start, end) is None:
                found[(seg, text[start:end])] = cut_tokens(doc, start, end)
    assert found == CUTS


def test_expand_grows_spans_to_whole_tokens_and_lists_each(corrected, pkuseg_pipeline):
    summary = run(corrected, pkuseg_pipeline, "expand")
    assert outcomes(summary) == {
        ("A-000-00", "那曲市"): ("expanded", "那曲市色"),
        # both GPEs grow onto 市色: the second cannot be kept and says so
        ("A-000-00", "色尼区"): ("dropped: overlaps 那曲市色 (GPE) once aligned", None),
        ("A-001-00", "普松村"): ("expanded", "普松村村"),
        ("A-002-00", "京"): ("expanded", "赴京"),
        ("B-000-00", "拉萨市"): ("expanded", "拉萨市区"),
        ("B-001-00", "中国西藏网"): ("expanded", "中国西藏网报"),
    }
    assert {(m.segment_id, m.text): m.tokens for m in summary.misaligned} == CUTS
    train = read_docs(corrected["out"] / "train.spacy")
    assert train["A-000-00"] == (["那曲", "市色", "尼区"], [("那曲市色", "GPE")])
    assert train["A-002-00"][1] == [("赴京", "GPE")]
    assert read_docs(corrected["out"] / "dev.spacy")["B-000-00"][1] == [("拉萨市区", "GPE")]


def test_contract_shrinks_spans_and_lists_those_with_no_token_left(corrected, pkuseg_pipeline):
    summary = run(corrected, pkuseg_pipeline, "contract")
    assert outcomes(summary) == {
        ("A-000-00", "那曲市"): ("contracted", "那曲"),
        ("A-000-00", "色尼区"): ("contracted", "尼区"),
        ("A-001-00", "普松村"): ("contracted", "普松"),
        ("A-002-00", "京"): ("dropped: no whole token inside", None),
        ("B-000-00", "拉萨市"): ("contracted", "拉萨"),
        ("B-001-00", "中国西藏网"): ("contracted", "中国西藏"),
    }
    train = read_docs(corrected["out"] / "train.spacy")
    assert train["A-000-00"][1] == [("那曲", "GPE"), ("尼区", "GPE")]
    assert train["A-002-00"][1] == []


def test_reject_leaves_documents_with_misaligned_spans_out(corrected, pkuseg_pipeline):
    summary = run(corrected, pkuseg_pipeline, "reject")
    assert sorted(summary.rejected_docs) == ["A-000-00", "A-001-00", "A-002-00", "B-000-00", "B-001-00"]
    assert {o for o, _ in outcomes(summary).values()} == {"rejected: document left out"}
    assert len(summary.misaligned) == len(CUTS)
    assert set(read_docs(corrected["out"] / "train.spacy")) == {"A-003-00"}
    assert set(read_docs(corrected["out"] / "dev.spacy")) == {"B-002-00"}
    assert summary.docs == {"train": 1, "dev": 1, "test": 2}


def test_retokenize_teaches_pkuseg_the_entities_and_tokenises_again(corrected, pkuseg_pipeline):
    summary = run(corrected, pkuseg_pipeline, "retokenize")
    # 京 is one character: adding it would split every 北京, so it is expanded instead
    assert summary.user_dict_words == ["那曲市", "色尼区", "普松村", "拉萨市", "中国西藏网"]
    assert outcomes(summary) == {
        ("A-000-00", "那曲市"): ("retokenized", "那曲市"),
        ("A-000-00", "色尼区"): ("retokenized", "色尼区"),
        ("A-001-00", "普松村"): ("retokenized", "普松村"),
        ("A-002-00", "京"): ("expanded: retokenizing did not align it", "赴京"),
        ("B-000-00", "拉萨市"): ("retokenized", "拉萨市"),
        ("B-001-00", "中国西藏网"): ("retokenized", "中国西藏网"),
    }
    assert {(m.segment_id, m.text): m.tokens for m in summary.misaligned} == CUTS  # the tokens before
    train = read_docs(corrected["out"] / "train.spacy")
    assert train["A-000-00"] == (["那曲市", "色尼区"], [("那曲市", "GPE"), ("色尼区", "GPE")])
    assert train["A-001-00"] == (["普松村", "村民"], [("普松村", "GPE")])
    dev = read_docs(corrected["out"] / "dev.spacy")
    assert dev["B-000-00"][1] == [("拉萨市", "GPE")]
    assert (corrected["out"] / "user_dict.txt").read_text(encoding="utf-8").split() == summary.user_dict_words


def test_retokenize_needs_a_pkuseg_segmenter(corrected, tmp_path):
    spacy.blank("zh").to_disk(tmp_path / "char")
    with pytest.raises(ZhnerError, match="E413"):
        run(corrected, str(tmp_path / "char"), "retokenize")


def test_docs_follow_the_article_split_with_their_ids_and_counts(corrected, pkuseg_pipeline):
    summary = run(corrected, pkuseg_pipeline, "expand")
    train, dev, test = (read_docs(corrected["out"] / f"{s}.spacy") for s in ("train", "dev", "test"))
    assert set(train) == {"A-000-00", "A-001-00", "A-002-00", "A-003-00"}
    assert set(dev) == {"B-000-00", "B-001-00", "B-002-00"}
    assert set(test) == {"C-000-00", "C-001-00"}
    assert test["C-001-00"][1] == [("拉萨市", "GPE"), ("6万余元", "QUANTITY")]
    assert summary.docs == {"train": 4, "dev": 3, "test": 2}
    assert summary.entities["test"] == {"ORG": 1, "GPE": 1, "QUANTITY": 1}
    assert summary.entities["train"] == {"GPE": 3, "ORG": 1}  # 色尼区 was dropped, and listed
    assert summary.tokens["test"] == sum(len(toks) for toks, _ in test.values())
    listed = [
        json.loads(line) for line in (corrected["out"] / "misaligned.jsonl").read_text("utf-8").splitlines()
    ]
    assert [(m["segment_id"], m["text"], m["outcome"]) for m in listed] == [
        (m.segment_id, m.text, m.outcome) for m in summary.misaligned
    ]


def test_doccano_export_shapes_are_accepted(tmp_path, corrected, pkuseg_pipeline):
    # Doccano's own export: ids flattened to the top level, spans as "label" or as "entities"
    export = tmp_path / "export.jsonl"
    srsly.write_jsonl(
        export,
        [
            {
                "id": 7,
                "text": "西藏日报社",
                "label": [[0, 5, "ORG"]],
                "Comments": [],
                "segment_id": "A-009-00",
                "article_id": "A",
            },
            {
                "id": 8,
                "text": "拉萨市区的群众",
                "entities": [{"id": 1, "label": "GPE", "start_offset": 0, "end_offset": 2}],
                "relations": [],
                "meta": {"segment_id": "B-009-00"},
            },  # article id taken from the segment id
        ],
    )
    summary = convert([export], corrected["out"], splits=corrected["splits"], model=pkuseg_pipeline)
    assert summary.docs == {"train": 1, "dev": 1, "test": 0}
    assert read_docs(corrected["out"] / "dev.spacy")["B-009-00"][1] == [("拉萨", "GPE")]


def test_a_later_record_of_the_same_segment_wins_and_is_reported(tmp_path, corrected, pkuseg_pipeline):
    later = tmp_path / "corrected" / "ann2.jsonl"
    srsly.write_jsonl(
        later, [{"text": "西藏日报社", "label": [], "meta": {"segment_id": "A-003-00", "article_id": "A"}}]
    )
    summary = convert(
        [corrected["jsonl"].parent], corrected["out"], splits=corrected["splits"], model=pkuseg_pipeline
    )
    assert summary.records == len(RECORDS) + 1
    assert len(summary.duplicates) == 1 and "A-003-00" in summary.duplicates[0]
    assert read_docs(corrected["out"] / "train.spacy")["A-003-00"][1] == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "bad.jsonl:2: not valid JSON"),
        (
            '{"text": "拉萨", "label": [[0, 5, "GPE"]], "meta": {"segment_id": "A-5-0"}}',
            "bad.jsonl:2: invalid record",
        ),
        (
            '{"text": "拉萨", "label": [[0, 2, "CITY"]], "meta": {"segment_id": "A-5-0"}}',
            "bad.jsonl:2: unknown label 'CITY'",
        ),
        (
            '{"text": "拉萨市", "label": [[0, 2, "GPE"], [1, 3, "GPE"]], "meta": {"segment_id": "A-5-0"}}',
            "bad.jsonl:2: spans [0, 2, 'GPE'] and [1, 3, 'GPE'] overlap",
        ),
        ('{"text": "拉萨", "label": [], "meta": {}}', "bad.jsonl:2: no meta.segment_id/article_id"),
        (
            '{"text": "拉萨", "label": [], "meta": {"segment_id": "Z-000-00"}}',
            "bad.jsonl:2: article 'Z' is not in",
        ),
    ],
)
def test_bad_lines_are_named_by_file_and_line_and_nothing_is_written(
    tmp_path, corrected, pkuseg_pipeline, line, message
):
    bad = tmp_path / "bad.jsonl"
    good = '{"text": "西藏日报社", "label": [[0, 5, "ORG"]], "meta": {"segment_id": "A-003-00"}}'
    bad.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match=re.escape(message)):
        convert([bad], corrected["out"], splits=corrected["splits"], model=pkuseg_pipeline)
    assert not corrected["out"].exists()


def test_cli_prints_a_summary_and_refuses_to_overwrite(corrected, pkuseg_pipeline):
    args = [
        "convert",
        str(corrected["jsonl"]),
        "--out",
        str(corrected["out"]),
        "--splits",
        str(corrected["splits"]),
        "--model",
        pkuseg_pipeline,
        "--misaligned",
        "contract",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "6 entities not on token boundaries (policy contract)" in first.output
    assert "赴京" in first.output and "dropped: no whole token inside" in first.output
    assert re.search(r"train\s+4\s+\d+", first.output)
    before = (corrected["out"] / "train.spacy").read_bytes()
    second = CliRunner().invoke(app, [*args[:-1], "expand"])
    assert second.exit_code == 1
    assert "already exists; pass --force" in second.output
    assert (corrected["out"] / "train.spacy").read_bytes() == before
    forced = CliRunner().invoke(app, [*args[:-1], "expand", "--force"])
    assert forced.exit_code == 0, forced.output
    assert (corrected["out"] / "train.spacy").read_bytes() != before
    unknown = CliRunner().invoke(app, [*args[:-1], "drop"])
    assert unknown.exit_code == 2  # typer: not one of the choices


def test_whitespace_taken_along_by_a_selection_is_trimmed_and_counted(tmp_path, corrected, pkuseg_pipeline):
    # an annotator's drag took the space after 拉萨市 along: [0, 4) is "拉萨市 "
    selected = tmp_path / "spaces.jsonl"
    record = {"text": "拉萨市 投入资金", "label": [[0, 4, "GPE"]], "meta": {"segment_id": "A-008-00"}}
    srsly.write_jsonl(selected, [record])
    summary = convert([selected], corrected["out"], splits=corrected["splits"], model=pkuseg_pipeline)
    assert summary.trimmed_spans == 1
    assert summary.misaligned == []
    assert read_docs(corrected["out"] / "train.spacy")["A-008-00"][1] == [("拉萨市", "GPE")]


def test_a_raw_export_of_a_project_zhner_pushed_is_read(tmp_path, corrected, pkuseg_pipeline):
    # what Doccano's own export returns for a row that `zhner doccano push` uploaded: meta as a JSON string
    from zhner.doccano.mapping import to_doccano
    from zhner.schemas import Task, TaskMeta

    task = Task(text="拉萨市区的群众", label=[(0, 2, "GPE")],
                meta=TaskMeta(segment_id="C-009-00", article_id="C", text_sha1="x"))  # fmt: skip
    row = {"id": 11, **to_doccano(task), "Comments": []}
    assert isinstance(row["meta"], str)
    export = tmp_path / "raw-export.jsonl"
    srsly.write_jsonl(export, [row])
    summary = convert([export], corrected["out"], splits=corrected["splits"], model=pkuseg_pipeline)
    assert summary.docs == {"train": 0, "dev": 0, "test": 1}
    assert read_docs(corrected["out"] / "test.spacy")["C-009-00"][1] == [("拉萨", "GPE")]
