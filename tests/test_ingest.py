"""`zhner ingest` on the real seed articles and on the bad inputs a user will hand it."""

from __future__ import annotations

import json
import random
import re
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhner.cli import app
from zhner.clean import normalize_line, normalize_text
from zhner.errors import ZhnerError
from zhner.ingest import build_article, ingest, load_ingest_config, segment_article
from zhner.io import read_jsonl
from zhner.schemas import Article, Segment

runner = CliRunner()
CFG = load_ingest_config()
BOILERPLATE = ["中国西藏网 >", "责编", "责任编辑", "版权", "ICP", "备案号", "许可证", "相关阅读", "分享到", "热线",
               "当前的位置", "关于我们", "联系我们", "久久精品", "无码", "数字报系", "移动端", ">>"]


def articles_of(corpus: Path) -> list[Article]:
    return list(read_jsonl(corpus / "articles.jsonl", Article))


def by_file(corpus: Path) -> dict[str, Article]:
    return {a.file[:3]: a for a in articles_of(corpus)}


# --- the seeds -------------------------------------------------------------------------------


def test_seeds_give_four_canonical_articles_with_000_and_002_grouped(seed_corpus: Path) -> None:
    assert sorted(by_file(seed_corpus)) == ["000", "001", "003", "004"]
    groups = json.loads((seed_corpus / "duplicates.json").read_text())
    assert len(groups) == 1
    assert groups[0]["canonical"]["file"].startswith("000_")  # it has the header (date, source)
    assert [d["file"][:3] for d in groups[0]["duplicates"]] == ["002"]
    assert groups[0]["duplicates"][0]["similarity"] >= CFG.dedupe.threshold


def test_no_boilerplate_or_spam_left_in_any_body(seed_corpus: Path) -> None:
    for article in articles_of(seed_corpus):
        for marker in BOILERPLATE:
            assert marker not in article.body, (article.file, marker)


def test_article_bodies_start_and_end_where_the_story_does(seed_corpus: Path) -> None:
    arts = by_file(seed_corpus)
    assert arts["000"].body.startswith("党史学习教育开展以来,西藏自治区党员干部")
    assert arts["000"].body.endswith("推出为民惠民的系列措施。")
    assert arts["003"].body.startswith("自治区第十次党代会聚焦")
    assert arts["003"].body.endswith("(稿件由区直机关工委提供)")
    assert arts["004"].body.endswith("(记者 姜玉勇)")


@pytest.mark.parametrize(
    "seed,title,date,source",
    [
        ("000", "发扬红色传统 凝聚奋进力量——西藏自治区深入推进党史学习教育", "2021-04-29T11:09:00", "人民日报"),
        ("001", "西藏:高标准开展主题教育 高质量推动走深走实", "2023-05-21T09:39:00", "光明网-《光明日报》"),
        ("003", "在创建民族团结进步模范区中走在前作表率——区(中)直机关扎实开展自治区民族团结进步模范单位创建工作",
         "2022-04-01T08:56:00", "中国西藏新闻网"),
        ("004", "在百年党史中滋养初心汲取力量——张掖市扎实开展党史学习教育综述", "2021-12-31T10:23:00", "张掖日报"),
    ],
)
def test_header_fields_are_parsed(seed_corpus: Path, seed: str, title: str, date: str, source: str) -> None:
    article = by_file(seed_corpus)[seed]
    assert (article.title, article.date, article.source) == (title, date, source)


def test_seed_002_without_header_keeps_its_two_line_title(seed_files: dict[str, Path]) -> None:
    article = build_article(seed_files["002"], CFG)
    assert article.title == "西藏自治区深入推进党史学习教育——发扬红色传统 凝聚奋进力量（奋斗百年路 启航新征程·学党史 悟思想 办实事 开新局）"
    assert article.date is None and article.source is None
    assert article.body.startswith("党史学习教育开展以来，西藏自治区")


def test_seed_003_is_simplified_without_pinyin_and_keeps_its_original(seed_corpus: Path) -> None:
    article = by_file(seed_corpus)["003"]
    assert article.script == "traditional"
    assert not re.search(r"[(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]+[)）]", article.body)
    assert "区(中)直机关" in article.body  # an abbreviation in brackets is not a gloss
    assert "數" not in article.body and "區" not in article.body
    assert article.original is not None
    assert "區(qū)(中)直機關(guān)" in article.original
    assert article.original.count("\n") == article.body.count("\n")  # paragraph for paragraph


def test_every_segment_points_at_its_text_in_the_article_body(seed_corpus: Path) -> None:
    bodies = {a.id: a.body for a in articles_of(seed_corpus)}
    segments = list(read_jsonl(seed_corpus / "segments.jsonl", Segment))
    assert len(segments) > 50
    for seg in segments:
        assert bodies[seg.article_id][seg.start : seg.end] == seg.text
        assert 0 < len(seg.text) <= CFG.segment.max_chars
        assert "\n" not in seg.text
    # Segments cover each article's paragraphs exactly, in order.
    for article_id, body in bodies.items():
        mine = [s for s in segments if s.article_id == article_id]
        rebuilt = "".join(
            s.text + ("\n" if i + 1 < len(mine) and mine[i + 1].paragraph != s.paragraph else "")
            for i, s in enumerate(mine)
        )
        assert rebuilt == body


def test_long_paragraphs_are_cut_at_sentence_ends(seed_corpus: Path) -> None:
    bodies = {a.id: a.body for a in articles_of(seed_corpus)}
    segments = list(read_jsonl(seed_corpus / "segments.jsonl", Segment))
    following = {(s.article_id, s.paragraph, s.part - 1): s for s in segments if s.part > 0}
    assert following, "seed 003 has paragraphs longer than the limit"
    for seg in segments:
        if (seg.article_id, seg.paragraph, seg.part) not in following:
            continue  # the last part of its paragraph
        if re.search(r"[。！？!?][”’」』）)]*$", seg.text):
            continue
        # Cut inside a sentence: only allowed at a clause end, when that sentence alone is over the limit.
        assert re.search(r"[；;，,、]$", seg.text), seg.text[-10:]
        body = bodies[seg.article_id]
        start = max(body.rfind(m, 0, seg.end) for m in "。！？\n") + 1
        end = min(i for m in "。！？\n" if (i := body.find(m, seg.end)) != -1)
        assert end - start > CFG.segment.max_chars


def test_second_run_is_byte_identical(tmp_path: Path, repo_root: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    ingest([repo_root / "seeds"], first)
    ingest([repo_root / "seeds"], second)
    for name in ["articles.jsonl", "segments.jsonl", "duplicates.json", "splits.json", "rejected.json"]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_splits_keep_whole_articles_pin_test_and_follow_duplicate_groups(seed_corpus: Path) -> None:
    splits = json.loads((seed_corpus / "splits.json").read_text())
    arts = by_file(seed_corpus)
    assert set(splits["articles"]) == {a.id for a in arts.values()}
    assert splits["articles"][arts["001"].id] == "test"
    assert splits["articles"][arts["004"].id] == "test"
    assert set(splits["articles"].values()) == {"train", "dev", "test"}
    (dup_id, dup_split), = splits["duplicates"].items()
    assert dup_split == splits["articles"][arts["000"].id]


def test_pin_test_option_and_seed_are_reproducible(tmp_path: Path, repo_root: Path) -> None:
    result = ingest([repo_root / "seeds"], None, pin_test=["003_73e5e971b316b4f2.txt"])
    pinned = [a.id for a in result.articles if a.file.startswith("003")]
    assert result.splits.articles[pinned[0]] == "test"
    again = ingest([repo_root / "seeds"], None, pin_test=["003_73e5e971b316b4f2.txt"])
    assert again.splits == result.splits


# --- decoding and normalisation ----------------------------------------------------------------


def _body(path: Path) -> str:
    return build_article(path, CFG).body


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_simplified_seed_decodes_from_other_encodings(tmp_path: Path, seed_files: dict[str, Path], encoding: str):
    text = seed_files["000"].read_text(encoding="utf-8")
    path = tmp_path / f"000.{encoding}.txt"
    path.write_bytes(text.replace("\xa0", " ").encode(encoding))
    article = build_article(path, CFG)
    assert article.body == _body(seed_files["000"]).replace("\xa0", " ")
    assert article.encoding == {"gbk": "gb18030", "utf-16": "utf-16"}.get(encoding, encoding)


def test_traditional_seed_decodes_from_big5(tmp_path: Path, seed_files: dict[str, Path]) -> None:
    text = CFG.clean.compiled.gloss.sub("", seed_files["003"].read_text(encoding="utf-8"))
    data = text.encode("big5", errors="ignore")  # Big5 has no NBSP nor the spam line's simplified forms
    big5, utf8 = tmp_path / "003.big5.txt", tmp_path / "003.utf8.txt"
    big5.write_bytes(data)
    utf8.write_text(data.decode("big5"), encoding="utf-8")
    article = build_article(big5, CFG)
    assert article.encoding == "big5"
    assert article.body == build_article(utf8, CFG).body
    assert "区(中)直机关" in article.body


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_ends_give_the_same_article(tmp_path: Path, seed_files: dict[str, Path], newline: str):
    text = seed_files["001"].read_text(encoding="utf-8")
    path = tmp_path / "001.txt"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    assert build_article(path, CFG).body == _body(seed_files["001"])


def test_documented_normalisation() -> None:
    # full-width digits and letters become half-width; full-width punctuation stays
    assert normalize_text("２０２１年Ａ级，共１２吨。") == "2021年A级，共12吨。"
    # zero-width characters and stray BOMs go; NFC composes e + combining acute
    assert normalize_text("西\u200b藏\ufeff e\u0301") == "西藏 \u00e9"
    # whitespace runs (ideographic space, NBSP, tabs) become one space; ends are trimmed
    assert normalize_line("\u3000\u3000拉萨市\u00a0\t 尼木县  ") == "拉萨市 尼木县"


def test_pinyin_gloss_rule_keeps_bracketed_words() -> None:
    gloss = CFG.clean.compiled.gloss
    assert gloss.sub("", "數(shù)字報系 區(qū)(中)直機關(guān)") == "數字報系 區(中)直機關"
    assert gloss.sub("", "微信(wechat)公众号，规划(2021—2025)，党委(党组)") == "微信(wechat)公众号，规划(2021—2025)，党委(党组)"


def test_segmenting_a_paragraph_without_sentence_ends(tmp_path: Path) -> None:
    paragraph = "，".join(["西藏自治区拉萨市尼木县普松村农牧民群众"] * 40)  # 799 characters, no 。
    article = Article(id="x", body=paragraph, encoding="utf-8", file="x.txt", sha256="0")
    segments = segment_article(article, 300)
    assert "".join(s.text for s in segments) == paragraph
    assert all(len(s.text) <= 300 and s.text.endswith("，") for s in segments[:-1])


# --- bad input ---------------------------------------------------------------------------------


def _write_bad_inputs(folder: Path) -> dict[str, str]:
    """Bad files beside good ones; returns file name → error code expected."""
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_text("\n \u3000\n", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "garbage.txt").write_bytes(b"\x80\xff\xfa" * 10 + "新闻".encode("utf-8") + b"\xff\xff")
    (folder / "english.txt").write_text("Lhasa, April 1 (Xinhua) -- The regional government said.\n", encoding="utf-8")
    (folder / "only-boilerplate.txt").write_text("中国西藏网 > 新闻 > 西藏新闻\n(责编: 陈卫国)\n", encoding="utf-8")
    return {"empty.txt": "E101", "blank.txt": "E101", "image.png": "E102", "garbage.txt": "E103",
            "english.txt": "E104", "only-boilerplate.txt": "E105"}


def test_bad_files_are_reported_one_line_each_and_the_others_processed(seeds_copy: Path, tmp_path: Path) -> None:
    expected = _write_bad_inputs(seeds_copy)
    out = tmp_path / "corpus"
    result = runner.invoke(app, ["ingest", str(seeds_copy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(articles_of(out)) == 4
    rejected = {Path(r["file"]).name: r for r in json.loads((out / "rejected.json").read_text())}
    assert {name: r["code"] for name, r in rejected.items()} == expected
    for name, r in rejected.items():
        assert name in r["reason"]
        line = next(line for line in result.output.splitlines() if name in line)
        assert f"[{expected[name]}]" in line


def test_a_100_mb_file_is_refused_without_reading_it_whole(seeds_copy: Path) -> None:
    big = seeds_copy / "huge.txt"
    line = ("西藏自治区党委召开会议，研究部署党史学习教育。" * 20 + "\n").encode("utf-8")
    with big.open("wb") as f:
        for _ in range(100_000_000 // len(line) + 1):
            f.write(line)
    tracemalloc.start()
    result = ingest([seeds_copy], None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r.code for r in result.rejected] == ["E107"]
    assert "huge.txt" in result.rejected[0].reason and "above the limit" in result.rejected[0].reason
    assert len(result.articles) == 4
    assert peak < 50_000_000


def test_a_directory_of_thousands_of_files(tmp_path: Path, seed_files: dict[str, Path]) -> None:
    sentences = [s for p in seed_files.values() for s in re.findall(r"[^。\n]{8,}。", p.read_text(encoding="utf-8"))]
    rng = random.Random(0)
    folder = tmp_path / "many"
    for i in range(2000):
        sub = folder / f"{i // 500:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.txt").write_text("\n".join(rng.sample(sentences, 6)) + "\n", encoding="utf-8")
    result = ingest([folder], tmp_path / "corpus")
    assert result.files == 2000 and not result.rejected
    kept = len(result.articles) + sum(len(g.members) - 1 for g in result.groups)
    assert kept == 2000
    assert len({s.id for s in result.segments}) == len(result.segments)


def test_existing_output_is_refused_unless_force(seed_corpus: Path, tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "corpus"
    out.mkdir()
    mine = out / "segments.jsonl"
    mine.write_text("my own work\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(repo_root / "seeds"), "--out", str(out)])
    assert result.exit_code == 1
    assert "segments.jsonl" in result.output and "--force" in result.output
    assert mine.read_text(encoding="utf-8") == "my own work\n"
    assert sorted(p.name for p in out.iterdir()) == ["segments.jsonl"]
    result = runner.invoke(app, ["ingest", str(repo_root / "seeds"), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert mine.read_bytes() == (seed_corpus / "segments.jsonl").read_bytes()
    assert not list(out.glob(".*.part"))


def test_missing_input_and_empty_directory_are_clear_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "nope" in result.output and "not found" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["ingest", str(tmp_path / "empty"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "no input files" in result.output


def test_invalid_config_names_the_field(tmp_path: Path, repo_root: Path) -> None:
    bad = tmp_path / "ingest.yml"
    bad.write_text((repo_root / "configs" / "ingest.yml").read_text(encoding="utf-8").replace("threshold: 0.8", "threshold: 7"))
    result = runner.invoke(app, ["ingest", str(repo_root / "seeds"), "--config", str(bad), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "dedupe.threshold" in result.output and str(bad) in result.output


def test_unreadable_file_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ZhnerError) as err:
        build_article(tmp_path / "missing.txt", CFG)
    assert "missing.txt" in str(err.value)


def test_lsh_path_finds_the_same_groups_as_all_pairs(repo_root: Path) -> None:
    exact = ingest([repo_root / "seeds"], None)
    lsh_cfg = CFG.model_copy(update={"dedupe": CFG.dedupe.model_copy(update={"exact_max_articles": 0})})
    lsh = ingest([repo_root / "seeds"], None, config=lsh_cfg)
    assert [g.to_json() for g in lsh.groups] == [g.to_json() for g in exact.groups]
    assert lsh.splits == exact.splits
