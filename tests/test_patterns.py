"""The pattern layer: the hard cases of configs/guidelines.md, as an annotator would check them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import spacy

from zhner.config import label_names
from zhner.errors import ZhnerError
from zhner.pipeline import patterns as patterns_module
from zhner.pipeline.patterns import SPANS_KEY, default_patterns_dir, match_patterns

LABELS = label_names()


def spans_of(text: str) -> dict[str, str]:
    """text of each pattern span → its label."""
    return {text[s.start : s.end]: s.label for s in match_patterns(text)}


@pytest.mark.parametrize(
    ("sentence", "expected", "label"),
    [
        ("2月21日上午，西藏自治区召开党委常委会会议。", "2月21日上午", "DATE"),
        ("今年是西藏民主改革62周年。", "今年", "DATE"),
        ("清明节期间，西藏军区某边防团开展活动。", "清明节期间", "DATE"),
        ("4月24日至29日，西藏自治区举行读书班。", "4月24日至29日", "DATE"),
        ("发布时间:2021-04-29 11:09:00", "2021-04-29", "DATE"),
        ("2021年12月31日 10:23", "2021年12月31日", "DATE"),
        ("仅3月份，拉萨市各级党员干部下基层。", "3月份", "DATE"),
        ("二〇二一年，全区经济增长。", "二〇二一年", "DATE"),
        ("上世纪80年代，这里还是荒滩。", "上世纪80年代", "DATE"),
        ("在近10个月的时间里，9.5万多名党员积极参与。", "近10个月", "DATE"),
        ("今年是西藏民主改革和百万农奴解放62周年。", "62周年", "QUANTITY"),
        ("为普松村争取到了12吨青稞良种。", "12吨", "QUANTITY"),
        ("占地2700平方米的新馆在拉萨开馆。", "2700平方米", "QUANTITY"),
        ("短短几天就接待了1.2万余人次参观。", "1.2万余人次", "QUANTITY"),
        ("价值6万余元的青稞良种。", "6万余元", "QUANTITY"),
        ("已开展各类学习研讨活动800余场次。", "800余场次", "QUANTITY"),
        ("40多家单位党组书记争做表率。", "40多家", "QUANTITY"),
        ("分3批从全市抽调数千人。", "3批", "QUANTITY"),
        ("分3批从全市抽调数千人。", "数千人", "QUANTITY"),
        ("参与率达到100%。", "100%", "QUANTITY"),
        ("增长百分之十二。", "百分之十二", "QUANTITY"),
        ("9.5万多名党员积极参与。", "9.5万多名", "QUANTITY"),
        ("西藏自治区党委第一时间深入学习。", "西藏自治区党委", "ORG"),
        ("区党委组织部深入艰苦边远县乡。", "区党委组织部", "ORG"),
        ("区税务局启动活动。", "区税务局", "ORG"),
        ("区民政厅聚焦特殊困难群众。", "区民政厅", "ORG"),
        ("国家统计局拉萨调查队了解到困难。", "国家统计局拉萨调查队", "ORG"),
        ("和拉萨市农业农村局对接。", "拉萨市农业农村局", "ORG"),
        ("日喀则市民政局成立3个调研组。", "日喀则市民政局", "ORG"),
        ("西藏自治区区直机关工委开展书记讲党课活动。", "西藏自治区区直机关工委", "ORG"),
        ("西藏自治区民族事务委员会主办活动。", "西藏自治区民族事务委员会", "ORG"),
        ("新闻在中国西藏网发布。", "中国西藏网", "ORG"),
        ("市委先后18次召开常委会会议。", "市委", "ORG"),
        ("张掖市委理论学习中心组开展研学。", "张掖市委", "ORG"),
        ("财政部下达资金。", "财政部", "ORG"),
        ("西藏自治区召开党委常委会会议。", "西藏自治区", "GPE"),
        ("拉萨市在活动中梳理问题。", "拉萨市", "GPE"),
        ("宣讲报告会在拉萨举行。", "拉萨", "GPE"),
        ("西藏广大党员干部切实下功夫。", "西藏", "GPE"),
        ("尼木县普松村农牧民群众。", "尼木县普松村", "GPE"),
        ("那曲市比如县广大党员干部。", "那曲市比如县", "GPE"),
        ("肃南县大河乡草根宣讲团。", "肃南县大河乡", "GPE"),
        ("贯彻落实自治区党委决策部署。", "自治区党委", "ORG"),
        ("党中央召开党史学习教育动员大会。", "党中央", "ORG"),
        ("去年以来，区(中)直机关各单位坚持学习。", "去年", "DATE"),
        ("自今年3月以来，党员积极参与。", "今年3月", "DATE"),
        ("连日来，西藏自治区体育局积极抓好“五学”。", "连日来", "DATE"),
        ("力争到2025年80%以上的单位建成模范单位。", "80%以上", "QUANTITY"),
        ("讲授专题党课4684场(次)。", "4684场", "QUANTITY"),
        ("细化为“7大类24项”调研重点。", "7大类", "QUANTITY"),
        ("与尼泊尔开展合作。", "尼泊尔", "GPE"),
        ("驻村工作队在尼木开展调研。", "尼木", "GPE"),  # county stem, rare as a word
        ("张家川群众积极参与。", "张家川", "GPE"),  # 张家川回族自治县: the stem ends at the nationality
        ("广西、新疆、内蒙古三地联动。", "内蒙古", "GPE"),
        ("重走红西路军征战路，守护祁连山生态。", "祁连山", "LOC"),
        ("雅鲁藏布江两岸。", "雅鲁藏布江", "LOC"),
        ("黄山风景秀丽。", "黄山", "LOC"),
        # the dev-set decisions of the guidelines: floor areas, discounts, specifications, ages
        ("三居室约230平米，售价低。", "约230平米", "QUANTITY"),
        ("全场98折优惠。", "98折", "QUANTITY"),
        ("一台42寸的电视。", "42寸", "QUANTITY"),
        ("相机有1230万像素。", "1230万像素", "QUANTITY"),
        ("这位56岁的老人。", "56岁", "QUANTITY"),
        ("以65票通过。", "65票", "QUANTITY"),
        # named organisations of business, sports and international news (leagues and clubs are ORG)
        ("湖人击败凯尔特人。", "凯尔特人", "ORG"),
        ("意甲三强出线。", "意甲", "ORG"),
        ("证监会发布新规。", "证监会", "ORG"),
        ("国家药监局加快审批。", "国家药监局", "ORG"),
        ("汇丰旗下私人银行。", "汇丰", "ORG"),
    ],
)
def test_hard_case_is_one_span_with_its_label(sentence: str, expected: str, label: str) -> None:
    assert spans_of(sentence).get(expected) == label


@pytest.mark.parametrize(
    ("sentence", "not_an_entity"),
    [
        ("西藏第一批开展主题教育的90家区直部门。", "第一批"),
        ("西藏第一批开展主题教育的90家区直部门。", "一批"),
        ("开发制作一批易于学习的微党课。", "一批"),
        ("提出“四个创建”的目标任务。", "四个"),
        ("推进全区党史学习教育。", "全区"),
        ("区(中)直机关各单位认真贯徹落实。", "区(中)直机关"),
        ("西藏自治区各级党委(党组)均成立工作机构。", "党委"),
        ("各市地党委认真落实。", "市地"),
        ("教育部门要加强管理。", "教育部"),  # a generic department, not the ministry
        ("第一时间和拉萨市农业农村部门对接。", "拉萨市农业农村部"),
        ("苏拉青2号青稞良种。", "2号"),
        ("实现长治久安和高质量发展。", "长治"),
        ("走进千家万户。", "千家"),
        ("有力维护祖国统一。", "祖国"),
        ("比如说，这件事。", "比如"),
        ("提供了坚强思想和政治保证。", "和政"),  # 和政县's stem read across a word boundary
        ("目前，第一批单位已全部启动。", "目前"),
        ("创建自治区民族团结进步模范单位。", "自治区"),
        ("坚持每年表彰一批先进。", "每年"),
        ("球队3平2负。", "3平"),  # a one-digit 平 is a draw, not a floor area
        ("打折扣。", "折"),
        ("入住一家三星级酒店。", "三星"),  # the brand's name inside another word
        ("让人联想到过去。", "联想"),  # common words that are also brands are left to the model
    ],
)
def test_counter_example_is_not_an_entity(sentence: str, not_an_entity: str) -> None:
    assert not_an_entity not in spans_of(sentence)


def test_ministry_part_of_a_regional_party_committee_is_not_cut_into_a_place() -> None:
    spans = spans_of("西藏自治区党委书记吴英杰说。")
    assert spans == {"西藏自治区党委": "ORG"}


def test_count_list_is_three_quantities() -> None:
    spans = spans_of("全面细化分解13类40项122条具体惠民便民举措。")
    assert spans == {"13类": "QUANTITY", "40项": "QUANTITY", "122条": "QUANTITY"}


def test_spans_point_at_the_text_and_never_overlap(seed_files: dict[str, Path]) -> None:
    text = seed_files["000"].read_text(encoding="utf-8")
    spans = match_patterns(text)
    assert len(spans) > 50
    assert all(s.source == "pattern" and s.label in LABELS and 0 < s.score <= 1 for s in spans)
    assert all(text[s.start : s.end] == text[s.start : s.end].strip() != "" for s in spans)
    ordered = sorted(spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in zip(ordered, ordered[1:]))
    found = {text[s.start : s.end] for s in spans}
    assert {"西藏自治区党委", "2月21日上午", "1.2万余人次", "国家统计局拉萨调查队", "清明节期间"} <= found


def test_empty_text_has_no_spans() -> None:
    assert match_patterns("") == []


@pytest.fixture(scope="module")
def jieba_nlp() -> spacy.Language:
    """A blank Chinese pipeline with a real word segmenter (jieba ships its dictionary)."""
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe("zhner_patterns")
    return nlp


def test_component_splits_tokens_a_span_ends_inside(jieba_nlp: spacy.Language) -> None:
    text = "西藏自治区党委书记吴英杰说，4000余人线上听讲。"
    assert "党委书记" in [t.text for t in jieba_nlp.make_doc(text)]  # jieba glues the ORG to the title
    doc = jieba_nlp(text)
    assert [(e.text, e.label_) for e in doc.ents] == [("西藏自治区党委", "ORG"), ("4000余人", "QUANTITY")]
    assert [t.text for t in doc][:3] == ["西藏自治区", "党委", "书记"]
    assert doc.text == text
    assert [(s.text, s.label_) for s in doc.spans[SPANS_KEY]] == [(e.text, e.label_) for e in doc.ents]


def test_model_entities_win_unless_overwrite() -> None:
    text = "国家统计局拉萨调查队了解到困难。"
    for overwrite, expected in [(False, ("拉萨", "GPE")), (True, ("国家统计局拉萨调查队", "ORG"))]:
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        ruler = nlp.add_pipe("entity_ruler")
        ruler.add_patterns([{"label": "GPE", "pattern": "拉萨"}])
        nlp.add_pipe("zhner_patterns", config={"overwrite_ents": overwrite})
        doc = nlp(text)
        assert (doc.ents[0].text, doc.ents[0].label_) == expected
        assert len(doc.ents) == 1


def test_saved_pipeline_round_trips_with_its_own_patterns(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns"
    shutil.copytree(default_patterns_dir(), patterns)
    lexicon = patterns / "lexicon.yml"
    lexicon.write_text(lexicon.read_text(encoding="utf-8").replace("loc:\n", "loc:\n  - 普松河\n", 1), encoding="utf-8")
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe("zhner_patterns", config={"patterns_dir": str(patterns)})
    text = "2月21日上午，区党委召开全区大会，1.2万余人次参加。普松河"
    before = [(e.text, e.label_) for e in nlp(text).ents]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(patterns)  # the saved pipeline must not need the original files
    patterns_module._matcher_for.cache_clear()  # nor a copy compiled before in this process
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["zhner_patterns"]
    assert [(e.text, e.label_) for e in loaded(text).ents] == before
    assert before == [("2月21日上午", "DATE"), ("区党委", "ORG"), ("1.2万余人次", "QUANTITY"), ("普松河", "LOC")]


def test_bad_pattern_file_names_file_and_rule(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns"
    shutil.copytree(default_patterns_dir(), patterns)
    grammar = patterns / "grammar.yml"
    grammar.write_text(grammar.read_text(encoding="utf-8") + "  - {name: broken, label: ORG, score: 0.5, pattern: 'P('}\n",
                       encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"grammar\.yml.*rule broken.*invalid regular expression"):
        match_patterns("拉萨", patterns)


def test_unknown_label_in_a_rule_is_refused(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns"
    shutil.copytree(default_patterns_dir(), patterns)
    grammar = patterns / "grammar.yml"
    grammar.write_text(grammar.read_text(encoding="utf-8") + "  - {name: person, label: PER, score: 0.5, pattern: 'P'}\n",
                       encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"grammar\.yml.*unknown label 'PER'"):
        match_patterns("拉萨", patterns)


def test_patterns_follow_the_quick_reference_of_the_guidelines(repo_root: Path) -> None:
    """Every row of the guidelines' quick-reference table, alone in a sentence, gets the decided label."""
    rows = [line.split("|")[1:3] for line in (repo_root / "configs" / "guidelines.md").read_text("utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| 文本")]
    assert len(rows) >= 8
    for texts, mark in rows:
        expected = mark.split("（")[0].strip()
        for example in (t.strip() for t in texts.split(" / ")):
            sentence = f"据悉，{example}。"
            found = spans_of(sentence)
            if expected == "不标":
                assert not any(example in s or s in example for s in found), (example, found)
            else:
                assert found.get(example) == expected, (example, found)


def test_tokens_outside_the_patterns_stay_unannotated_for_a_later_ner(jieba_nlp: spacy.Language) -> None:
    doc = jieba_nlp("2月21日上午，区党委召开全区大会。")
    assert [e.text for e in doc.ents] == ["2月21日上午", "区党委"]
    assert {t.ent_iob_ for t in doc if t.ent_type_ == ""} == {""}  # missing, not "O": the NER still decides


def test_replaced_model_entity_leaves_no_stray_tokens() -> None:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "GPE", "pattern": [{"TEXT": "拉萨"}, {"TEXT": "调查队"}, {"TEXT": "了解"}]}])
    nlp.add_pipe("zhner_patterns", config={"overwrite_ents": True})
    doc = nlp("国家统计局拉萨调查队了解到困难。")
    assert [(e.text, e.label_) for e in doc.ents] == [("国家统计局拉萨调查队", "ORG")]
    assert [t.ent_iob_ for t in doc if t.text == "了解"] == ["O"]
