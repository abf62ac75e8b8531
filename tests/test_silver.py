"""Silver entities from PKU tags: what a user checks on known People's Daily lines."""

from __future__ import annotations

import pytest

from zhner.pipeline.corpus import parse_line
from zhner.pipeline.silver import load_rules, place_label, silver_entities, silver_stats


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def ents(line: str, rules) -> list[tuple[str, str]]:
    s = silver_entities(parse_line(line), rules)
    return [(s.text[a:b], label) for a, b, label in s.char_spans()]


def test_tags_become_labels(rules):
    line = "１２月/t  ３１日/t  ，/w  中共中央/nt  总书记/n  在/p  长江/ns  边/f  的/u  四川/ns  考察/v  ３/m  个/q  村/n"
    assert ents(line, rules) == [
        ("１２月３１日", "DATE"), ("中共中央", "ORG"), ("长江", "LOC"), ("四川", "GPE"), ("３个", "QUANTITY"),
    ]


def test_lost_brackets_are_repaired_into_one_org(rules):
    line = "通过/p  中央/n  人民/n  广播/vn  电台/n  和/c  西藏/ns  自治区/n  党委/n  ，/w  西藏/ns  自治区/n  的/u  干部/n"
    assert ents(line, rules) == [("中央人民广播电台", "ORG"), ("西藏自治区党委", "ORG"), ("西藏自治区", "GPE")]


def test_without_repair_the_compound_org_is_lost(rules):
    naive = rules.model_copy(update={"repair_compound_orgs": False})
    assert ents("西藏/ns  自治区/n  党委/n  召开/v  会议/n", naive) == [("西藏自治区", "GPE")]


def test_generic_bodies_without_anchor_stay_unlabelled(rules):
    assert ents("县/n  政府/n  和/c  有关/vn  部门/n", rules) == []


def test_gazetteer_beats_suffix_for_places(rules):
    assert place_label("黑龙江", rules) == "GPE"  # a province, though it ends in 江
    assert place_label("太行山", rules) == "LOC"
    assert place_label("曼谷", rules) == "GPE"
    assert place_label("东南亚", rules) == "LOC"


def test_abbreviations_dates_and_quantities(rules):
    line = "中/j  美/j  关系/n  目前/t  ，/w  增长/v  ５０％/m  ，/w  第一/m  步/q  ，/w  ６万余/m  元/q  ，/w  清明节/t  期间/f"
    assert ents(line, rules) == [
        ("中", "GPE"), ("美", "GPE"), ("５０％", "QUANTITY"), ("６万余元", "QUANTITY"), ("清明节期间", "DATE"),
    ]


def test_stats_measure_what_the_repair_absorbs(rules):
    lines = [parse_line("西藏/ns  自治区/n  党委/n  和/c  新华社/nt")]
    stats = silver_stats(lines, rules)
    assert stats["compound_orgs"] == 1
    assert stats["naive_spans_inside_compound_orgs"] == {"GPE": 1}


def test_guideline_decisions_for_dates_and_quantities(rules):
    line = ("近/a  ３/m  年/q  来/f  ，/w  近/a  ３０００/m  人/q  ，/w  ８０％/m  以上/f  ，/w  一/m  批/q  干部/n  ，/w  "
            "一/m  吨/q  ，/w  ６２/m  周年/q  ，/w  ３/m  小时/q  ，/w  去年/t  以来/f  ，/w  春节/t  前夕/f")
    assert ents(line, rules) == [
        ("近３年", "DATE"), ("近３０００人", "QUANTITY"), ("８０％以上", "QUANTITY"), ("一吨", "QUANTITY"),
        ("６２周年", "QUANTITY"), ("去年", "DATE"), ("春节前夕", "DATE"),
    ]


def test_chained_divisions_are_one_gpe(rules):
    assert ents("安徽省/ns  合肥市/ns  的/u  苏州/ns  寒山寺/ns", rules) == [
        ("安徽省合肥市", "GPE"), ("苏州", "GPE"), ("寒山寺", "LOC"),
    ]
