"""Annotation rounds (`zhner next-batch`, `zhner rounds`): what a round may pick, that it is
reproducible, that a second round's push adds only its own segments, and that convert reads every
round. Pre-annotation runs for real with the tiny NER of conftest.py; Doccano tests use the real
server of doccano_fixtures.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from doccano_helpers import LocalServer
from zhner import rounds
from zhner.cli import app
from zhner.demo.annotator import segment_id_of
from zhner.convert import convert
from zhner.doccano.projects import find_work_project
from zhner.doccano.sync import connect, pull, push
from zhner.errors import ZhnerError
from zhner.io import read_jsonl, write_jsonl, write_splits
from zhner.loop import next_batch, render_rounds, rounds_report
from zhner.preannotate import preannotate
from zhner.schemas import Segment, Span, Splits, Task, TaskMeta, text_sha1

pytest_plugins = ["doccano_fixtures"]

SPORT = ["北京队在上海赢得了篮球比赛。", "足球联赛昨天在广州开幕。", "国家队今天在北京训练。", "新华社报道了排球比赛的结果。"]
MONEY = ["中国人民银行今天在上海宣布新的政策。", "央行下调了贷款利率。", "银行的存款增加了3亿元。", "国务院总理在北京会见了美国客人。"]
# articles a0–a3 train, d0 dev, t0 test; each article four segments
ARTICLES = {"a0": SPORT, "a1": MONEY, "a2": SPORT[::-1], "a3": MONEY[::-1], "d0": SPORT, "t0": MONEY}
SPLIT = {"a0": "train", "a1": "train", "a2": "train", "a3": "train", "d0": "dev", "t0": "test"}


def segment(article: str, i: int, text: str) -> Segment:
    # the same text in two articles would be one segment twice: a suffix keeps them apart
    text = f"{text[:-1]}{article}。"
    return Segment(id=f"{article}-{i:03d}-00", article_id=article, paragraph=i, start=0, end=len(text), text=text)


@pytest.fixture()
def corpus(tmp_path: Path) -> dict[str, Path]:
    segs = [segment(a, i, t) for a, texts in ARTICLES.items() for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "segments.jsonl", segs)
    write_splits(tmp_path / "splits.json", Splits(seed=0, articles=SPLIT))
    return {"segments": tmp_path / "segments.jsonl", "splits": tmp_path / "splits.json", "root": tmp_path}


def corrected(path: Path, ids_texts: list[tuple[str, str]], spans=(), annotator: str = "alice") -> Path:
    """A pull as `zhner doccano pull` writes it: Task records with meta.annotator."""
    tasks = [
        Task(text=text, label=list(spans), meta=TaskMeta(segment_id=sid, article_id=sid.split("-")[0],
                                                         text_sha1=text_sha1(text), annotator=annotator))
        for sid, text in ids_texts
    ]  # fmt: skip
    write_jsonl(path, tasks)
    return path


def batch(corpus, model: Path, **kw) -> rounds.RoundEntry:
    root = corpus["root"]
    kw.setdefault("ledger", root / "ledger.json")
    kw.setdefault("out", root / f"round-{len(rounds.read_ledger(kw['ledger'], 'p').rounds) + 1}.jsonl")
    return next_batch(project="p", segments=corpus["segments"], splits=corpus["splits"], model=str(model), **kw).entry


# -- what a round may pick -----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", rounds.STRATEGIES)
@pytest.mark.parametrize("unit", rounds.UNITS)
def test_selection_never_picks_annotated_pushed_or_held_out(corpus, ner_pipeline, strategy, unit, tmp_path):
    pulls = tmp_path / "corrected"
    pulls.mkdir()
    corrected(pulls / "p-20260101T000000Z.jsonl", [("a0-000-00", "x"), ("a1-002-00", "y")])
    # the rejected list beside a pull is not a record file (it would not parse as one)
    srsly.write_jsonl(pulls / "p-20260101T000000Z.rejected.jsonl", [{"segment_id": None, "reason": "r"}])
    first = batch(corpus, ner_pipeline, size=3, strategy="random", seed=1, annotated=[pulls])
    second = batch(corpus, ner_pipeline, size=100, strategy=strategy, unit=unit, seed=2, annotated=[pulls])

    assert len(first.segments) == 3
    assert not {"a0-000-00", "a1-002-00"} & (set(first.segments) | set(second.segments))  # annotated
    assert not set(first.segments) & set(second.segments)  # pushed in round 1
    picked = first.segments + second.segments
    assert {sid.split("-")[0] for sid in picked} <= {"a0", "a1", "a2", "a3"}  # never dev or test
    assert len(picked) == 16 - 2  # everything else of the four train articles
    tasks = list(read_jsonl(Path(second.tasks), Task))
    assert [t.meta.segment_id for t in tasks] == second.segments  # pre-annotated, in document order


def test_seeds_corpus_round_picks_only_its_train_article(seed_corpus, ner_pipeline, tmp_path):
    entry = next_batch(project="seeds", segments=seed_corpus / "segments.jsonl", splits=seed_corpus / "splits.json",
                       model=str(ner_pipeline), size=1000, strategy="uncertainty", ledger=tmp_path / "l.json",
                       out=tmp_path / "r.jsonl").entry  # fmt: skip
    split = srsly.read_json(seed_corpus / "splits.json")["articles"]
    train = [s["id"] for s in srsly.read_jsonl(seed_corpus / "segments.jsonl") if split[s["article_id"]] == "train"]
    assert sorted(entry.segments) == sorted(train)


def test_the_same_seed_gives_the_same_batch(corpus, ner_pipeline, tmp_path):
    def pick(strategy: str, seed: int, n: int) -> list[str]:
        return batch(corpus, ner_pipeline, size=5, strategy=strategy, seed=seed, ledger=tmp_path / f"{n}.json",
                     out=tmp_path / f"{n}.jsonl").segments  # fmt: skip

    for i, strategy in enumerate(rounds.STRATEGIES):
        assert pick(strategy, 7, 10 * i) == pick(strategy, 7, 10 * i + 1), strategy
    randoms = {tuple(pick("random", seed, 100 + seed)) for seed in range(4)}
    assert len(randoms) > 1  # the seed does change a random batch


def test_a_picked_article_that_splits_json_now_holds_out_is_reported(corpus, ner_pipeline):
    first = batch(corpus, ner_pipeline, size=4, strategy="random", unit="article", seed=0)
    article = first.segments[0].split("-")[0]
    write_splits(corpus["splits"], Splits(seed=0, articles={**SPLIT, article: "test"}))  # a re-ingest dealt again
    second = next_batch(project="p", segments=corpus["segments"], splits=corpus["splits"], model=str(ner_pipeline),
                        size=4, strategy="random", ledger=corpus["root"] / "ledger.json", out=corpus["root"] / "r2.jsonl")
    assert second.moved == first.segments
    assert not {s.split("-")[0] for s in second.entry.segments} & {article, "d0", "t0"}


def test_no_segment_left_is_an_error_that_says_why(corpus, ner_pipeline, tmp_path):
    batch(corpus, ner_pipeline, size=100, strategy="random")
    with pytest.raises(ZhnerError) as err:
        batch(corpus, ner_pipeline, size=5, strategy="random")
    assert err.value.code == "E434" and "8 are in held-out splits" in str(err.value) and "16 annotated or pushed" in str(err.value)


# -- strategies ------------------------------------------------------------------------------------


def scored_task(sid: str, spans: list[Span], confidence: float | None) -> Task:
    text = "新华社北京电国务院总理在北京会见了美国客人"
    meta = TaskMeta(segment_id=sid, article_id="a", text_sha1=text_sha1(text), spans=spans, confidence=confidence)
    return Task(text=text, label=[s.as_triple() for s in spans], meta=meta)


def test_uncertainty_is_the_doubt_about_the_whole_analysis():
    model = [Span(start=0, end=3, label="ORG", source="model", score=0.9), Span(start=3, end=5, label="GPE", source="model", score=0.6)]
    assert rounds.uncertainty(scored_task("a", model, 0.3)) == pytest.approx(0.7)  # an entity it did not set, maybe
    assert rounds.uncertainty(scored_task("b", [], 0.75)) == pytest.approx(0.25)  # found nothing: 1 - P(no entity)
    assert rounds.uncertainty(scored_task("c", model, None)) == pytest.approx(0.4)  # no analysis score: its entities'
    unscored = [Span(start=0, end=3, label="ORG", source="model", score=None)]
    assert rounds.uncertainty(scored_task("d", unscored, None)) is None
    assert rounds.uncertainty(scored_task("e", [], None)) is None


def test_all_scores_records_the_probability_of_each_analysis(ner_pipeline, tmp_path):
    texts = ["中国人民银行今天在上海宣布新的政策。", "他们一起吃了午饭。", "新华社北京电，国务院总理在北京会见了美国客人。"]
    segs = [Segment(id=f"s{i}-000-00", article_id=f"s{i}", paragraph=0, start=0, end=len(t), text=t) for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "segs.jsonl", segs)
    preannotate(segments=tmp_path / "segs.jsonl", model=str(ner_pipeline), out=tmp_path / "plain.jsonl")
    preannotate(segments=tmp_path / "segs.jsonl", model=str(ner_pipeline), out=tmp_path / "all.jsonl", all_scores=True)
    plain, every = list(read_jsonl(tmp_path / "plain.jsonl", Task)), list(read_jsonl(tmp_path / "all.jsonl", Task))
    assert [t.meta.confidence for t in plain] == [None] * 3
    assert every[0].label and not every[1].label  # one segment with entities, one without
    for t in every:
        assert 0.0 <= t.meta.confidence <= 1.0
        # the analysis holds every entity it set: it is never likelier than the least likely of them
        assert all(t.meta.confidence <= s.score + 1e-4 for s in t.meta.spans if s.source == "model")
    assert [t.label for t in every] == [t.label for t in plain]  # scoring never changes the pre-annotations


BALL = ["篮球队赢了篮球比赛。", "篮球队输了篮球比赛。", "篮球比赛的球队很强。", "篮球队在比赛中获胜。", "篮球比赛的球迷很多。"]
BANK = ["银行下调贷款利率。", "银行上调存款利率。", "银行贷款增加三亿元。"]


def test_uncertainty_picks_the_least_sure_and_mix_spreads_over_topics():
    segs = [segment("a", i, t) for i, t in enumerate(BALL + BANK)]
    doubt = {s.id: u for s, u in zip(segs, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])}
    top2 = rounds.select(segs, n=2, strategy="uncertainty", seed=0, scores=doubt)
    assert [s.id for s in top2] == ["a-000-00", "a-001-00"]  # the two most doubtful, both about ball games
    for seed in range(3):
        mixed = rounds.select(segs, n=2, strategy="mix", seed=seed, scores=doubt)
        assert [s.id for s in mixed] == ["a-000-00", "a-005-00"], seed  # the most doubtful of each topic


def test_diversity_covers_both_topics():
    segs = [segment("a", i, t) for i, t in enumerate(BALL + BANK)]
    for seed in range(3):
        picked = rounds.select(segs, n=2, strategy="diversity", seed=seed)
        assert {s.text[:-2] + "。" in BALL for s in picked} == {True, False}, seed  # one of each, though BALL has more


def test_whole_articles_never_exceed_the_size_unless_one_article_is_larger():
    segs = [segment(a, i, t) for a, texts in ARTICLES.items() for i, t in enumerate(texts[: 2 + (a == "a1") * 2])]
    picked = rounds.select(segs, n=5, strategy="random", seed=3, unit="article")
    by_article = {s.article_id for s in picked}
    assert len(picked) <= 5
    for article in by_article:  # whole articles only
        assert {s.id for s in segs if s.article_id == article} <= {s.id for s in picked}
    assert len(rounds.select(segs[2:6], n=1, strategy="random", seed=0, unit="article")) == 4  # a1 alone is 4


def test_scored_strategies_refuse_unscored_segments():
    segs = [segment("a", i, t) for i, t in enumerate(SPORT)]
    with pytest.raises(ZhnerError) as err:
        rounds.select(segs, n=2, strategy="uncertainty", seed=0, scores={segs[0].id: 0.5})
    assert err.value.code == "E433" and "3 segments have no score" in str(err.value)


# -- the ledger -------------------------------------------------------------------------------------


def test_a_broken_or_foreign_ledger_is_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"E430.*not JSON"):
        rounds.read_ledger(path, "p")
    rounds.write_ledger(path, rounds.Ledger(project="other"))
    with pytest.raises(ZhnerError, match=r"ledger of project 'other', not 'p'"):
        rounds.read_ledger(path, "p")


def test_the_task_file_of_a_round_is_never_overwritten(corpus, ner_pipeline):
    out = corpus["root"] / "mine.jsonl"
    out.write_text("my own file\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match="E001"):
        batch(corpus, ner_pipeline, size=2, strategy="random", out=out)
    assert out.read_text(encoding="utf-8") == "my own file\n"
    assert not (corpus["root"] / "ledger.json").exists()  # nothing was recorded either


# -- Doccano: a second round adds only its own segments ------------------------------------------------


def project_spans(srv: LocalServer, project: str, user: str) -> dict[str, list]:
    pulled = pull(project=project, conn=srv.conn(), out_dir=srv.home / "pulls", annotators=[user])
    return {t.meta.segment_id: sorted(t.label) for t in read_jsonl(pulled.path, Task)}


@pytest.mark.doccano
def test_a_second_round_pushes_only_new_segments_and_leaves_the_first_alone(
    doccano: LocalServer, corpus, ner_pipeline, tmp_path
):
    project = "rounds-two"
    # a segment pushed outside the rounds (by `zhner doccano push`) is in the project: never picked
    outside = tmp_path / "outside.jsonl"
    seg = next(s for s in read_jsonl(corpus["segments"], Segment) if s.id == "a2-000-00")
    write_jsonl(outside, [Task(text=seg.text, meta=TaskMeta(segment_id=seg.id, article_id=seg.article_id,
                                                            text_sha1=text_sha1(seg.text)))])  # fmt: skip
    push(tasks_path=outside, project=project, conn=doccano.conn(), annotators=["alice"])

    one = next_batch(project=project, segments=corpus["segments"], splits=corpus["splits"], model=str(ner_pipeline),
                     size=4, strategy="uncertainty", seed=0, ledger=tmp_path / "l.json", out=tmp_path / "r1.jsonl",
                     conn=doccano.conn(), annotators=["alice"])  # fmt: skip
    assert one.push.uploaded == 4 and one.entry.pushed and "a2-000-00" not in one.entry.segments
    # alice corrects round 1: she deletes every pre-annotation of it and marks one date of her own
    pre = project_spans(doccano, project, "alice")
    with connect(doccano.annotator_conn("alice")) as gw:
        proj = find_work_project(gw, project, "alice")  # her queue (individual mode: one project per annotator)
        date = next(t.id for t in gw.span_types(proj.id) if t.text == "DATE")
        for ex in gw.examples(proj.id):
            if segment_id_of(ex) in one.entry.segments:
                for span in gw.spans(proj.id, ex["id"]):
                    gw.delete_span(proj.id, ex["id"], span.id)
                if segment_id_of(ex) == one.entry.segments[0]:
                    gw.create_span(proj.id, ex["id"], 0, 2, date)
    before = project_spans(doccano, project, "alice")
    assert before != pre and before[one.entry.segments[0]] == [(0, 2, "DATE")]

    # round 2 written without the server, then pushed by the next call (which picks nothing new)
    two = next_batch(project=project, segments=corpus["segments"], splits=corpus["splits"], model=str(ner_pipeline),
                     size=4, strategy="random", seed=0, ledger=tmp_path / "l.json", out=tmp_path / "r2.jsonl")  # fmt: skip
    assert two.push is None and not two.entry.pushed
    resumed = next_batch(project=project, segments=corpus["segments"], splits=corpus["splits"], model=str(ner_pipeline),
                         size=4, strategy="random", seed=0, ledger=tmp_path / "l.json", conn=doccano.conn(),
                         annotators=["alice"])  # fmt: skip
    assert resumed.resumed and resumed.entry.round == 2
    assert (resumed.push.uploaded, resumed.push.already_there) == (4, 0)
    assert not set(two.entry.segments) & {*one.entry.segments, "a2-000-00"}

    after = project_spans(doccano, project, "alice")
    assert len(after) == 1 + 4 + 4
    assert {k: after[k] for k in before} == before  # round 1 as alice left it: her deletions stay deleted
    ledger = rounds.read_ledger(tmp_path / "l.json", project)
    assert [r.pushed for r in ledger.rounds] == [True, True]


# -- convert and the report read every round --------------------------------------------------------


def test_convert_reads_every_round_pulled_so_far(corpus, ner_pipeline, tmp_path):
    pulls = tmp_path / "corrected" / "rounds"
    pulls.mkdir(parents=True)
    segs = {s.id: s for s in read_jsonl(corpus["segments"], Segment)}
    r1 = [("a0-000-00", segs["a0-000-00"].text), ("t0-000-00", segs["t0-000-00"].text)]
    r2 = [("a1-001-00", segs["a1-001-00"].text)]
    corrected(pulls / "p-20260101T000000Z.jsonl", r1, spans=[(0, 2, "GPE")])
    corrected(pulls / "p-20260108T000000Z.jsonl", r2, spans=[(0, 2, "ORG")])
    srsly.write_jsonl(pulls / "p-20260108T000000Z.rejected.jsonl", [{"segment_id": "x", "reason": "overlaps"}])
    summary = convert([tmp_path / "corrected"], tmp_path / "out", splits=corpus["splits"], model=str(ner_pipeline))
    assert summary.docs == {"train": 2, "dev": 0, "test": 1}
    import spacy

    train = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(spacy.blank("zh").vocab))
    assert sorted(d.user_data["segment_id"] for d in train) == ["a0-000-00", "a1-001-00"]


def test_rounds_report_counts_each_rounds_effort(corpus, ner_pipeline, tmp_path):
    first = batch(corpus, ner_pipeline, size=2, strategy="random", seed=0, heldout=None)
    second = batch(corpus, ner_pipeline, size=1, strategy="random", seed=0)
    text = {s.id: s.text for s in read_jsonl(corpus["segments"], Segment)}
    pre = [Span(start=0, end=2, label="GPE", source="model", score=0.5), Span(start=3, end=5, label="ORG", source="model", score=0.5)]

    def record(sid: str, final: list[tuple[int, int, str]]) -> Task:
        meta = TaskMeta(segment_id=sid, article_id=sid.split("-")[0], text_sha1=text_sha1(text[sid]), spans=pre, annotator="alice")
        return Task(text=text[sid], label=final, meta=meta)

    pulls = tmp_path / "pulls"
    write_jsonl(pulls / "p-1.jsonl", [record(first.segments[0], [(0, 2, "GPE")])])  # an older pull, superseded
    write_jsonl(pulls / "p-2.jsonl", [
        record(first.segments[0], [(0, 2, "GPE"), (3, 5, "ORG")]),  # both kept
        record(first.segments[1], [(0, 2, "LOC"), (6, 8, "DATE")]),  # relabelled, deleted, added
        record(second.segments[0], [(0, 3, "GPE")]),  # boundary fixed, deleted
    ])  # fmt: skip
    report = rounds_report(project="p", corrected=[pulls], ledger=corpus["root"] / "ledger.json")
    r1, r2 = report["rounds"]
    assert (r1["segments"], r1["annotated"], r2["segments"], r2["annotated"]) == (2, 2, 1, 1)
    assert r1["effort"] == {"kept": 2, "boundary_fixed": 0, "relabelled": 1, "deleted": 1, "added": 1, "edits": 3}
    assert r2["effort"] == {"kept": 0, "boundary_fixed": 1, "relabelled": 0, "deleted": 1, "added": 0, "edits": 2}
    assert "| 2 | random (segment) | 1 | 1 | 0 | 1 | 0 | 1 | 0 | 2.00 |" in render_rounds(report)


def test_cli_next_batch_and_rounds(corpus, ner_pipeline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    heldout = tmp_path / "heldout.jsonl"
    write_jsonl(heldout, [Task(text=t, label=[(0, 6, "ORG")], meta=TaskMeta(segment_id="h-000-00", article_id="h",
                                                                            text_sha1=text_sha1(t)))
                          for t in ["中国人民银行今天在上海宣布新的政策。"]])  # fmt: skip
    args = ["next-batch", "--project", "news", "--segments", str(corpus["segments"]), "--splits", str(corpus["splits"]),
            "--base", str(ner_pipeline), "--size", "3", "--no-push", "--heldout", str(heldout)]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "round 1: 3 segments (uncertainty" in done.output
    ledger = rounds.read_ledger(tmp_path / "annotations/rounds/news.json", "news")
    assert ledger.rounds[0].tasks == "annotations/tasks/news-round01.jsonl" and ledger.rounds[0].heldout_f is not None
    assert (tmp_path / "annotations/tasks/news-round01.jsonl").is_file()
    corrected(tmp_path / "annotations/corrected/news-x.jsonl", [(ledger.rounds[0].segments[0], "文")])
    done = CliRunner().invoke(app, ["rounds", "--project", "news", "--output", "r.json", "--markdown", "r.md"])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "r.json").read_text())["rounds"][0]["annotated"] == 1
    assert "| 1 | uncertainty (segment) | 3 | 1 |" in (tmp_path / "r.md").read_text()
    bad = CliRunner().invoke(app, [*args[:-3], "--no-push", "--strategy", "smart"])
    assert bad.exit_code == 1 and "E432" in bad.output
