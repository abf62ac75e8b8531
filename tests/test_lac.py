"""`--model lac`: Baidu's LAC through its spaCy component, on sentences written for these tests.

`make test` installs LAC (`make lac`), so nothing here is skipped when it is missing: a missing
install fails these tests with E220 and its install command. The sentences are our own, not from
the news dev set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zhner.cli import app
from zhner.config import load_labels
from zhner.doccano_settings import load_settings
from zhner.errors import ZhnerError
from zhner.io import read_jsonl
from zhner.pipeline import lac
from zhner.preannotate import preannotate
from zhner.schemas import task_problem
from zhner.schemas import Segment, Task

SCHEME = load_labels()

# Our own sentences, and what the guidelines want of LAC's output on them (checked on LAC 2.1.2).
EXPECTED = {
    "华为公司昨天在深圳发布了新款手机，售价5999元。": [("华为公司", "ORG"), ("昨天", "DATE"), ("深圳", "GPE")],
    # natural features are LOC, countries GPE
    "长江和黄河是中国最长的两条河流，青藏高原被称为世界屋脊。":
        [("长江", "LOC"), ("黄河", "LOC"), ("中国", "GPE"), ("青藏高原", "LOC")],
    # a chain of divisions is one GPE; a road with its number and a mall are LOC
    "上海市浦东新区张江路88号的万达广场本周开业。":
        [("上海市浦东新区", "GPE"), ("张江路88号", "LOC"), ("万达广场", "LOC"), ("本周", "DATE")],
    # a date with its time of day is one DATE; a facility is LOC
    "2021年3月5日上午，国务院总理在北京人民大会堂作政府工作报告。":
        [("2021年3月5日上午", "DATE"), ("国务院", "ORG"), ("北京人民大会堂", "LOC")],
    "美国会参议院拨款委员会周三通过了该法案，联合国表示欢迎。":
        [("美国会参议院拨款委员会", "ORG"), ("周三", "DATE"), ("联合国", "ORG")],
    # LAC tags all of these TIME: vague words, clock times and a time of day alone are not DATE;
    # a trailer (期间) and a range (至) belong to the DATE
    "目前，近日，此前，上午10时30分，晚上8点，今年夏天，清明节期间，4月24日至29日":
        [("今年夏天", "DATE"), ("清明节期间", "DATE"), ("4月24日至29日", "DATE")],
    "据新华社报道，中国人民银行宣布下调存款准备金率。": [("新华社", "ORG"), ("中国人民银行", "ORG")],
}
# white space, Latin, full-width digits, an emoji, a tab: offsets must still land on the characters
AWKWARD = [
    "  新华社记者报道 美国总统（Joe Biden）周二在白宫表示，😀 将访问日本。 ",
    "Apple公司\t在加州发布iPhone 15。",
    "１２月３１日，中共中央在北京召开会议。",
    "a",
]


@pytest.fixture(scope="module")
def nlp() -> spacy.Language:
    return lac.build_pipeline()


def ents(doc) -> list[tuple[str, str]]:
    return [(e.text, e.label_) for e in doc.ents]


def write_segments(path: Path, texts: list[str]) -> Path:
    srsly.write_jsonl(path, [
        Segment(id=f"t{i}-000-00", article_id=f"t{i}", paragraph=0, start=0, end=len(t), text=t).model_dump()
        for i, t in enumerate(texts)
    ])
    return path


def test_lac_imports_where_make_test_installed_it() -> None:
    """Fails (never skips) without LAC: `make test` installs it, so a missing LAC is a broken setup."""
    lac_class = lac.import_lac()
    assert lac_class.__name__ == "LAC"
    assert lac.lac_version().startswith("2.1.")


def test_spans_follow_the_guidelines(nlp) -> None:
    docs = list(nlp.pipe(list(EXPECTED)))
    for doc, expected in zip(docs, EXPECTED.values(), strict=True):
        assert ents(doc) == expected, doc.text


def test_offsets_land_on_the_characters(nlp) -> None:
    for doc in nlp.pipe([*EXPECTED, *AWKWARD, "", "   "]):
        assert all(len(t) == 1 for t in doc if not t.is_space)  # character tokens: every LAC word boundary is one
        last = 0
        for ent in doc.ents:
            assert ent.label_ in SCHEME.labels
            assert doc.text[ent.start_char:ent.end_char] == ent.text
            assert ent.text == ent.text.strip() and ent.text
            assert ent.start_char >= last  # sorted, no overlaps
            last = ent.end_char
        for raw in doc.spans[lac.SPANS_KEY]:
            assert raw.label_ in lac.ENTITY_TAGS
    awkward = [ents(d) for d in nlp.pipe(AWKWARD)]
    assert ("新华社", "ORG") in awkward[0] and ("美国", "GPE") in awkward[0] and ("周二", "DATE") in awkward[0]
    assert ("日本", "GPE") in awkward[0]
    assert ("Apple公司", "ORG") in awkward[1]
    assert awkward[2] == [("１２月３１日", "DATE"), ("中共中央", "ORG"), ("北京", "GPE")]


def test_without_conventions_the_mapping_alone_labels() -> None:
    nlp = lac.build_pipeline(conventions=False)
    doc = nlp("长江边，上午10时30分，目前")
    assert ents(doc) == [("长江", "GPE"), ("上午", "DATE"), ("10时30分", "DATE"), ("目前", "DATE")]


def test_chunk_spans_on_given_words() -> None:
    """The mapping and conventions alone, on words and tags as LAC returns them."""
    rules = lac.compile_rules(SCHEME.mappings["lac"], SCHEME.labels, source="labels.yml")
    conv = lac.Conventions.load()
    words = ["北京市", "朝阳区", "建国路", "88号", "，", "3月", "1日", "至", "5日", "期间", "，", "凌晨", " ", "故宫"]
    tags = ["LOC", "LOC", "LOC", "m", "w", "TIME", "TIME", "v", "TIME", "f", "w", "TIME", "w", "LOC"]
    text = "".join(words)
    spans = [(text[s:e], label) for s, e, label in lac.chunk_spans(text, words, tags, rules, conv)]
    assert spans == [("北京市朝阳区", "GPE"), ("建国路88号", "LOC"), ("3月1日至5日期间", "DATE"), ("故宫", "LOC")]
    with pytest.raises(ZhnerError, match="E221"):
        lac.chunk_spans(text + "x", words, tags, rules, conv)


def test_mapping_targets_must_be_labels_of_the_scheme() -> None:
    with pytest.raises(ZhnerError, match="E005.*'LOC' maps to 'PLACE'"):
        lac.compile_rules({"LOC": "PLACE"}, SCHEME.labels, source="labels.yml")


def test_preannotate_with_lac_writes_pushable_tasks(tmp_path: Path) -> None:
    texts = [*EXPECTED, *AWKWARD]
    segments = write_segments(tmp_path / "segments.jsonl", texts)
    out = tmp_path / "tasks.jsonl"
    result = CliRunner().invoke(app, ["preannotate", str(segments), "--model", "lac", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tasks = list(read_jsonl(out, Task))
    assert [t.text for t in tasks] == texts
    max_chars = load_settings().sync.max_segment_chars
    for task in tasks:
        assert task_problem(task, labels=set(SCHEME.labels), max_chars=max_chars) is None
        assert task.meta.model == "zh_lac" and task.meta.model_version == lac.lac_version()
        assert [s.as_triple() for s in task.meta.spans] == [tuple(x) for x in task.label]
        assert all(s.source == "model" for s in task.meta.spans)
    by_text = {t.text: [(t.text[s:e], label) for s, e, label in t.label] for t in tasks}
    for text, expected in EXPECTED.items():
        assert by_text[text] == expected


def test_preannotate_with_lac_in_two_processes(tmp_path: Path) -> None:
    """Each worker builds its own LAC (the predictor is not pickled with the component)."""
    texts = list(EXPECTED)
    segments = write_segments(tmp_path / "segments.jsonl", texts)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    preannotate(segments=segments, model="lac", out=one, batch_size=2)
    preannotate(segments=segments, model="lac", out=two, batch_size=2, n_process=2)
    assert one.read_text(encoding="utf-8") == two.read_text(encoding="utf-8")


def test_evaluate_lac_on_a_gold_docbin(tmp_path: Path) -> None:
    blank = spacy.blank("zh")
    db = DocBin()
    for text, expected in EXPECTED.items():
        doc = blank.make_doc(text)
        spans, pos = [], 0
        for name, label in expected:
            start = text.index(name, pos)
            spans.append(doc.char_span(start, start + len(name), label=label))
            pos = start + len(name)
        doc.ents = spans
        db.add(doc)
    data = tmp_path / "gold.spacy"
    db.to_disk(data)
    result = CliRunner().invoke(app, ["evaluate", "lac", str(data), "--out", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(tmp_path / "reports" / "report.json")
    assert report["model"]["name"] == "lac"
    assert report["n_gold_entities"] == sum(map(len, EXPECTED.values()))
    assert report["model"]["strict"]["f"] == 1.0  # the sentences' expected spans are LAC's, as the guidelines want


def test_missing_paddle_is_a_catalogued_error(tmp_path: Path) -> None:
    """Without PaddlePaddle, `--model lac` fails with E220 and the install command, not a traceback."""
    code = (
        "import sys; sys.modules['paddle'] = None\n"
        "from zhner.errors import ZhnerError\n"
        "from zhner.pipeline import lac\n"
        "try:\n    lac.build_pipeline()\nexcept ZhnerError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "E220" in done.stdout and "make lac" in done.stdout
