"""The guidelines' span rules (configs/patterns/span_rules.yml) on the entities a NER hands them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import spacy
import yaml

from zhner.errors import ZhnerError
from zhner.config import load_labels
from zhner.nlp import ENT_SCORES_KEY, doc_spans
from zhner.pipeline.span_rules import apply_rules, load_rules, prefer_patterns

RULES = load_rules()


def after_rules(text: str, *ents: tuple[str, str], rules=RULES) -> list[tuple[str, str]]:
    """The entities (given as text, label; each found left to right) after the rules, as text and label."""
    triples, pos = [], 0
    for words, label in ents:
        start = text.index(words, pos)
        triples.append((start, start + len(words), label))
        pos = start + len(words)
    return [(text[s:e], label) for (s, e, label), _ in apply_rules(text, triples, rules)]


@pytest.mark.parametrize(
    "text, ents, expected",
    [
        # clock times are not marked: trimmed off, or the DATE goes
        ("5月10日15时举行", [("5月10日15时", "DATE")], [("5月10日", "DATE")]),
        ("今日凌晨2时30分发生地震", [("今日凌晨2时30分", "DATE")], [("今日凌晨", "DATE")]),
        ("晚7时30分开幕", [("7时30分", "DATE")], []),
        # vague words and a time of day alone are not DATEs
        ("近日，市政府宣布", [("近日", "DATE")], []),
        ("上午开会", [("上午", "DATE")], []),
        # qualifiers after the date belong to it; 晚会 is a party, not the evening
        ("6月底完成", [("6月", "DATE")], [("6月底", "DATE")]),
        ("8日晚在北京", [("8日", "DATE")], [("8日晚", "DATE")]),
        ("8日晚会上", [("8日", "DATE")], [("8日", "DATE")]),
        ("工程将完成于6月底", [("6月", "DATE")], [("6月底", "DATE")]),  # at the end of the text too
        ("1月14日上午11时", [("1月14日上午11时", "DATE")], [("1月14日上午", "DATE")]),
        # a range is one DATE; 从4月份开始到年底 stays two
        ("今年10月12日至19日举行", [("今年10月12日", "DATE"), ("19日", "DATE")], [("今年10月12日至19日", "DATE")]),
        ("从4月份开始到年底", [("4月份", "DATE"), ("年底", "DATE")], [("4月份", "DATE"), ("年底", "DATE")]),
        # the determiner belongs to the period
        ("迎接新的一年", [("一年", "DATE")], [("新的一年", "DATE")]),
        ("在这一天", [("一天", "DATE")], [("这一天", "DATE")]),
        ("他等了一年", [("一年", "DATE")], [("一年", "DATE")]),
    ],
)
def test_date_rules_follow_the_guidelines(text, ents, expected):
    assert after_rules(text, *ents) == expected


@pytest.mark.parametrize(
    "text, ents, expected",
    [
        ("买了一辆车", [("一辆", "QUANTITY")], []),  # 一 + measure word is "a"
        ("运来一吨煤", [("一吨", "QUANTITY")], [("一吨", "QUANTITY")]),  # ... unless the measure is a unit
        ("两辆车", [("两辆", "QUANTITY")], [("两辆", "QUANTITY")]),
        ("中美关系", [("中美", "GPE")], []),  # abbreviations written together
        ("俄、美两国", [("俄", "GPE"), ("美", "GPE")], [("俄", "GPE"), ("美", "GPE")]),  # alone they are GPE
        ("联合国安理会决定", [("联合国", "ORG"), ("安理会", "ORG")], [("联合国安理会", "ORG")]),
        ("俄通社—塔斯社报道", [("俄通社", "ORG"), ("塔斯社", "ORG")], [("俄通社—塔斯社", "ORG")]),
        ("北京1月10日讯新华社记者", [("北京", "GPE"), ("1月10日", "DATE"), ("讯新华社", "ORG")],
         [("北京", "GPE"), ("1月10日", "DATE"), ("新华社", "ORG")]),
        ("欧盟和东盟", [("欧盟", "ORG"), ("东盟", "ORG")], [("欧盟", "ORG"), ("东盟", "ORG")]),
        # the place prefix is inside the ORG: a head after a place or a body joins it
        ("北京市委召开会议", [("北京", "GPE")], [("北京市委", "ORG")]),
        ("国家教委党组决定", [("国家教委", "ORG")], [("国家教委党组", "ORG")]),
        ("北京武术队获胜", [("北京武术队", "GPE")], [("北京武术队", "ORG")]),
        ("北京队员", [("北京", "GPE")], [("北京", "GPE")]),  # a one-character head joins only as an entity
    ],
)
def test_quantity_place_and_organisation_rules(text, ents, expected):
    assert after_rules(text, *ents) == expected


@pytest.mark.parametrize(
    "text, ents, expected",
    [
        # facilities, palaces used as venues and estates are LOC, whoever called them ORG or GPE
        ("在新疆人民会堂举行团拜会", [("新疆人民会堂", "ORG")], [("新疆人民会堂", "LOC")]),
        ("建邦华庭实景园区", [("建邦华庭", "ORG")], [("建邦华庭", "LOC")]),
        ("参观西藏博物馆", [("西藏博物馆", "GPE")], [("西藏博物馆", "LOC")]),
        ("故宫博物院发布公告", [("故宫博物院", "ORG")], [("故宫博物院", "ORG")]),  # an organisation's head
        ("北京市委召开会议", [("北京市委", "ORG")], [("北京市委", "ORG")]),
        # place + 地区 marks the place; a region without a government is LOC
        ("东北地区市场潜力大", [("东北地区", "GPE")], [("东北", "LOC")]),
        ("西藏地区", [("西藏地区", "GPE")], [("西藏", "GPE")]),
        ("欧洲和亚洲", [("欧洲", "GPE"), ("亚洲", "LOC")], [("欧洲", "LOC"), ("亚洲", "LOC")]),
        # a road after a place is one LOC with its number; 路透社 and 街头 are other words
        ("长江中路两侧", [("长江", "LOC")], [("长江中路", "LOC")]),
        ("家住北京路18号的老人", [("北京", "GPE")], [("北京路18号", "LOC")]),
        ("美国路透社报道", [("美国", "GPE")], [("美国", "GPE")]),
        ("伦敦街头", [("伦敦", "GPE")], [("伦敦", "GPE")]),
        ("搬到上海路", [("上海", "GPE")], [("上海路", "LOC")]),  # at the end of the text
        ("他住在南湖南路附近", [("南湖南路", "GPE")], [("南湖南路", "LOC")]),  # a road, not a province
        # ring roads are LOC where no entity covers them
        ("南2环中海紫御公馆推新", [], [("南2环", "LOC")]),
        ("东三环和乔丽致", [("东三环", "GPE")], [("东三环", "LOC")]),
    ],
)
def test_location_rules(text, ents, expected):
    assert after_rules(text, *ents) == expected


def test_a_ring_road_added_by_a_rule_is_a_pattern_span_with_score_one():
    nlp = spacy.blank("zh")
    nlp.add_pipe("zhner_span_rules")
    doc = nlp.make_doc("南2环中海紫御公馆推新")
    doc.user_data[ENT_SCORES_KEY] = {}
    doc = nlp.get_pipe("zhner_span_rules")(doc)
    spans = doc_spans(doc, load_labels(), "ontonotes")
    assert [(doc.text[s.start : s.end], s.label, s.source, s.score) for s in spans] == [("南2环", "LOC", "pattern", 1.0)]


def test_a_stretched_date_never_swallows_the_next_entity():
    # 前后 would stretch 元旦 onto the ORG that starts right after it; the ORG stays
    assert after_rules("元旦前后援团", ("元旦", "DATE"), ("前后援团", "ORG")) == [("元旦", "DATE"), ("前后援团", "ORG")]


def test_pattern_dates_replace_the_entities_they_overlap():
    text = "5月10日15时"
    kept = prefer_patterns([(0, 8, "DATE"), (9, 10, "ORG")], [(0, 5, "DATE"), (2, 4, "QUANTITY")], ["DATE"])
    assert kept == [(0, 5, "DATE"), (9, 10, "ORG")]
    assert len(text) == 8


def test_a_family_switched_off_leaves_its_label_alone(tmp_path, repo_root):
    patterns = tmp_path / "patterns"
    shutil.copytree(repo_root / "configs" / "patterns", patterns)
    data = yaml.safe_load((patterns / "span_rules.yml").read_text(encoding="utf-8"))
    data["date"]["enabled"] = False
    (patterns / "span_rules.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    off = load_rules(patterns)
    assert after_rules("5月10日15时举行", ("5月10日15时", "DATE"), rules=off) == [("5月10日15时", "DATE")]
    assert after_rules("中美关系", ("中美", "GPE"), rules=off) == []  # the other families still run


def test_a_bad_rules_file_names_the_file_and_the_field(tmp_path, repo_root):
    patterns = tmp_path / "patterns"
    shutil.copytree(repo_root / "configs" / "patterns", patterns)
    data = yaml.safe_load((patterns / "span_rules.yml").read_text(encoding="utf-8"))
    data["date"]["trailers"] = "底"  # a word, not a list
    (patterns / "span_rules.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ZhnerError) as err:
        load_rules(patterns)
    assert "span_rules.yml" in str(err.value) and "date.trailers" in str(err.value)


def test_the_component_fixes_boundaries_keeps_scores_and_travels_with_the_pipeline(tmp_path):
    nlp = spacy.blank("zh")  # character tokens: the rules split or join them as the guidelines want
    nlp.add_pipe("zhner_span_rules")
    doc = nlp.make_doc("5月10日15时，中美两国")
    doc.ents = [doc.char_span(0, 8, label="DATE"), doc.char_span(9, 11, label="GPE")]
    doc.user_data[ENT_SCORES_KEY] = {"0:8:DATE": 0.75, "9:11:GPE": 0.9}
    doc = nlp.get_pipe("zhner_span_rules")(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [("5月10日", "DATE")]
    assert doc.user_data[ENT_SCORES_KEY]["0:5:DATE"] == 0.75  # the trimmed DATE keeps the NER's probability
    nlp.to_disk(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "zhner_span_rules" / "span_rules.yml").is_file()
    # a fresh process loads the rules saved with the pipeline (through the entry point, nothing imported)
    check = ("import spacy, sys\nnlp = spacy.load(sys.argv[1])\n"
             "print(nlp.get_pipe('zhner_span_rules').patterns_dir)")
    out = subprocess.run([sys.executable, "-c", check, str(tmp_path / "pipe")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "pipe" / "zhner_span_rules")
