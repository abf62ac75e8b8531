"""Benchmark of zh_news_base: throughput against the bare tokenizer, held-out People's Daily lines,
the external MSRA NER test set (ORG and places) beside a jieba.posseg peer, and optional gold tasks.

    python bench/bench_pipeline.py [--model models/zh_news_base] [--gold annotations/gold.jsonl]

Measures, never asserts. Writes bench/results/bench_pipeline.json. MSRA is only ever read here:
nothing is trained or tuned on it.
"""

from __future__ import annotations

import os

# "one core": keep numpy's BLAS from spreading over the machine's cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402
import srsly  # noqa: E402
from spacy.language import Language  # noqa: E402
from spacy.util import minibatch  # noqa: E402

from zhner import confidence  # noqa: E402
from zhner.config import label_names  # noqa: E402
from zhner.io import read_jsonl  # noqa: E402
from zhner.pipeline.bootstrap_config import load_bootstrap_config  # noqa: E402
from zhner.pipeline.selection import load_gold_selection  # noqa: E402
from zhner.pipeline.silver import silver_entities  # noqa: E402
from zhner.pipeline.training_data import load_data  # noqa: E402
from zhner.pipeline.variants import PATTERNS_FACTORY, apply_variant, patterns_available  # noqa: E402
from zhner.preannotate import preannotate  # noqa: E402
from zhner.schemas import Segment, Task  # noqa: E402
from zhner.scoring import score_spans  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MSRA = Path(os.environ.get("ZHNER_MSRA", ROOT.parent / "shared" / "eval" / "msra_test_bio.txt"))
RESULTS = ROOT / "bench" / "results"
Triple = tuple[int, int, str]
LABELS = label_names()


# -- data ------------------------------------------------------------------------------------------


def read_bio(path: Path) -> list[tuple[str, list[Triple]]]:
    """`字<TAB>B-ORG` lines, blank line between sentences → (text, character spans)."""
    sents, chars, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            char, tag = line.split("\t")
            chars.append(char)
            tags.append(tag)
            continue
        if chars:
            spans, start = [], None
            for i, tag in enumerate([*tags, "O"]):
                if start is not None and not tag.startswith("I-"):
                    spans.append((start, i, tags[start][2:]))
                    start = None
                if tag.startswith("B-"):
                    start = i
            sents.append(("".join(chars), spans))
            chars, tags = [], []
    return sents


def msra_view(spans: Iterable[Triple]) -> list[Triple]:
    """Our labels as MSRA counts them: GPE and LOC are its LOC; PER, DATE, QUANTITY ignored."""
    keep = {"ORG": "ORG", "GPE": "LOC", "LOC": "LOC"}
    return [(s, e, keep[label]) for s, e, label in spans if label in keep]


# -- predictors --------------------------------------------------------------------------------------


def nlp_predict(nlp: Language) -> Callable[[Sequence[str]], list[list[Triple]]]:
    def predict(texts: Sequence[str]) -> list[list[Triple]]:
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=256)]

    return predict


def jieba_predict(texts: Sequence[str], place: str = "LOC") -> list[list[Triple]]:
    """The peer: jieba.posseg with ns → `place`, nt → ORG."""
    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(60)
    out = []
    for text in texts:
        spans, pos = [], 0
        for pair in pseg.cut(text):
            end = pos + len(pair.word)
            if pair.flag in ("ns", "nt"):
                spans.append((pos, end, place if pair.flag == "ns" else "ORG"))
            pos = end
        out.append(spans)
    return out


def variant(model: Path, name: str) -> Language:
    nlp = spacy.load(model)
    if PATTERNS_FACTORY in nlp.pipe_names:
        nlp.remove_pipe(PATTERNS_FACTORY)
    return apply_variant(nlp, name)


# -- measurements --------------------------------------------------------------------------------------


def chars_per_second(run: Callable[[], object], n_chars: int, repeat: int = 2) -> float:
    best = min(_timed(run) for _ in range(repeat))
    return n_chars / best


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def throughput(model: Path, texts: list[str]) -> dict:
    """Bare tokenizer vs the pipeline (steady state, one process, one BLAS thread) vs the whole command."""
    started = time.perf_counter()
    nlp = spacy.load(model)
    load_s = time.perf_counter() - started
    n = sum(map(len, texts))
    rows = {"tokenizer": chars_per_second(lambda: [nlp.make_doc(t) for t in texts], n)}
    rows["pipeline"] = chars_per_second(lambda: list(nlp.pipe(texts, batch_size=64)), n)
    costs = component_costs(nlp, texts, n / rows["tokenizer"])
    beam = beam_costs(nlp, texts, n / rows["tokenizer"]) if "ner" in nlp.pipe_names else None
    if "ner" in nlp.pipe_names:
        nlp.add_pipe(confidence.FACTORY, after="ner")
        rows["pipeline + beam scores"] = chars_per_second(lambda: list(nlp.pipe(texts, batch_size=64)), n)
    with tempfile.TemporaryDirectory() as tmp:
        segs = Path(tmp) / "segments.jsonl"
        srsly.write_jsonl(segs, [
            Segment(id=f"b{i}-000-00", article_id=f"b{i}", paragraph=0, start=0, end=len(t), text=t).model_dump()
            for i, t in enumerate(texts)
        ])
        one = Path(tmp) / "one.jsonl"
        one.write_text(segs.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
        # the command's fixed start-up (loading the pipeline, one segment): it does not grow with the input
        startup_s = _timed(lambda: preannotate(segments=one, model=model, out=Path(tmp) / "o.jsonl", force=True))
        command_s = _timed(lambda: preannotate(segments=segs, model=model, out=Path(tmp) / "t.jsonl", force=True))
        rows["zhner preannotate (with load)"] = n / command_s
        rows["zhner preannotate (after start-up)"] = n / max(command_s - startup_s, 1e-9)
    return {"characters": n, "load_seconds": round(load_s, 1), "command_startup_seconds": round(startup_s, 2),
            "chars_per_s": {k: round(v) for k, v in rows.items()},
            "ratio_to_tokenizer": {k: round(v / rows["tokenizer"], 3) for k, v in rows.items()},
            "component_seconds_per_tokenizer_second": costs, "beam_seconds_per_tokenizer_second": beam}


def beam_costs(nlp: Language, texts: list[str], tokenizer_s: float) -> dict:
    """The confidence beam over every document against over those with a span from the NER (what runs)."""
    docs = list(nlp.pipe(texts, batch_size=64))
    ner = nlp.get_pipe("ner")
    scorer = confidence.EntScores(nlp, ner="ner", beam_width=confidence.BEAM_WIDTH, batch_size=64)

    def every_doc() -> None:  # what the scorer did before it skipped documents without NER spans
        for batch in minibatch([d for d in docs if len(d)], size=64):
            ner.beam_parse(batch, beam_width=confidence.BEAM_WIDTH, beam_density=confidence.BEAM_DENSITY)

    every = min(_timed(every_doc) for _ in range(2))
    needed = min(_timed(lambda: list(scorer.pipe(docs))) for _ in range(2))
    scored = sum(map(confidence.has_model_entity, docs))
    return {"docs": len(docs), "docs_with_ner_spans": scored,
            "all_docs": round(every / tokenizer_s, 2), "docs_with_ner_spans_only": round(needed / tokenizer_s, 2)}


def component_costs(nlp: Language, texts: list[str], tokenizer_s: float) -> dict[str, float]:
    """Each component's time over the same docs, in units of the tokenizer's time: where the budget goes."""
    stages = stage_seconds(nlp, texts, rounds=1)
    return {name: round(stages[name] / tokenizer_s, 2) for name in nlp.pipe_names}


def stage_seconds(nlp, texts: Sequence[str], rounds: int = 5) -> dict[str, float]:
    """CPU seconds of each stage of a spaCy pipeline (tokenizer, then each component) over `texts`,
    each run on copies of the previous stage's output, best of `rounds`: where the time goes."""

    def best(run: Callable[[], list]) -> tuple[float, list]:
        seconds, out = float("inf"), []
        for _ in range(rounds):
            started = time.process_time()
            out = run()
            seconds = min(seconds, time.process_time() - started)
        return seconds, out

    stages: dict[str, float] = {}
    stages["tokenizer"], docs = best(lambda: [nlp.tokenizer(t) for t in texts])
    copying, _ = best(lambda: [d.copy() for d in docs])
    for name, proc in nlp.pipeline:
        if hasattr(proc, "pipe"):
            seconds, docs = best(lambda: list(proc.pipe([d.copy() for d in docs], batch_size=64)))
        else:
            seconds, docs = best(lambda: [proc(d.copy()) for d in docs])
        stages[name] = max(0.0, seconds - copying)
    return {k: round(v, 3) for k, v in stages.items()}


def boundary_ceiling(nlp: Language, data: list[tuple[str, list[Triple]]]) -> dict:
    """Share of gold spans, per label, whose both ends fall on the pipeline's token boundaries (before
    any splitting): what a word-level NER can reach at best."""
    hit: dict[str, list[int]] = {}
    for doc, (_, spans) in zip(nlp.tokenizer.pipe(t for t, _ in data), data, strict=True):
        starts = {t.idx for t in doc}
        ends = {t.idx + len(t) for t in doc}
        for s, e, label in spans:
            hit.setdefault(label, [0, 0])
            hit[label][0] += s in starts and e in ends
            hit[label][1] += 1
    return {label: round(a / b, 4) for label, (a, b) in sorted(hit.items())}


def silver_repair_cost(cfg, data) -> dict:
    """What the lost brackets cost the labels: naive silver scored against repaired silver (held-out lines)."""
    naive_rules = cfg.silver.model_copy(update={"repair_compound_orgs": False})
    pairs = []
    for i in data.split.heldout:
        repaired = data.silver[i]
        naive = silver_entities(data.sentences[i], naive_rules)
        pairs.append((repaired.char_spans(), naive.char_spans()))
    return score_spans(pairs, LABELS)


def score(predict: Callable, data: list[tuple[str, list[Triple]]], view: Callable | None = None,
          labels: Iterable[str] = LABELS) -> dict:
    preds = predict([t for t, _ in data])
    view = view or (lambda spans: list(spans))
    return score_spans(((view(g), view(p)) for (_, g), p in zip(data, preds, strict=True)), labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "zh_news_base")
    parser.add_argument("--gold", type=Path, default=None, help="gold Task JSONL (e.g. held-out seed articles)")
    parser.add_argument("--splits", type=Path, default=None, help="corpus/splits.json: score only --split articles")
    parser.add_argument("--split", default="test", help="which split of --splits to score (default: test)")
    parser.add_argument("--config", type=Path, default=None, help="bootstrap config the model was built with")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_pipeline.json")
    parser.add_argument("--throughput-sentences", type=int, default=1000, help="MSRA sentences timed")
    args = parser.parse_args()

    meta = spacy.load(args.model).meta
    variants = ["model", "patterns", "model+patterns", "patterns+model"] if patterns_available() else ["model"]
    chosen = meta.get("zhner", {}).get("variant", "model")
    results: dict = {"model": f"{meta['lang']}_{meta['name']}", "version": meta["version"], "chosen": chosen,
                     "machine": platform.processor() or platform.machine(), "variants": variants}

    cfg = load_bootstrap_config(args.config)
    data = load_data(cfg)
    heldout = [(s.text, s.char_spans()) for s in data.part("heldout")]
    msra = read_bio(MSRA)

    sample = [t for t, _ in msra][: args.throughput_sentences]
    print(f"Throughput on the first {len(sample):,} MSRA test sentences ({sum(map(len, sample)):,} characters, "
          "one process)")
    results["throughput"] = throughput(args.model, sample)
    print(f"  (loading the pipeline: {results['throughput']['load_seconds']} s; the command's start-up: "
          f"{results['throughput']['command_startup_seconds']} s)")
    for k, v in results["throughput"]["chars_per_s"].items():
        print(f"  {k:<36} {v:>9,} chars/s  {results['throughput']['ratio_to_tokenizer'][k]:>6.1%} of tokenizer")
    costs = results["throughput"]["component_seconds_per_tokenizer_second"]
    print("  time of each component, in tokenizer times: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    beam = results["throughput"]["beam_seconds_per_tokenizer_second"]
    if beam:
        print(f"  confidence beam, in tokenizer times: {beam['all_docs']:.2f} over all {beam['docs']:,} documents, "
              f"{beam['docs_with_ner_spans_only']:.2f} over the {beam['docs_with_ner_spans']:,} with a span from the NER")

    results["msra_token_boundary_ceiling"] = boundary_ceiling(spacy.load(args.model), msra)
    print(f"  MSRA gold spans on token boundaries: {results['msra_token_boundary_ceiling']}")
    results["silver_repair_cost"] = silver_repair_cost(cfg, data)
    org = results["silver_repair_cost"]["per_label"]["ORG"]
    print(f"  Naive silver vs repaired silver, ORG on held-out lines: P {org['p']:.3f} R {org['r']:.3f} F {org['f']:.3f}")

    results["heldout_pd"], results["msra"], results["gold"] = {}, {}, {}
    gold = None
    if args.gold:
        if args.splits:  # the same selection bootstrap --select-on makes, of the --split articles
            sel = load_gold_selection(args.gold, args.splits, args.split)
            gold = [(text, list(spans)) for text, spans in zip(sel.texts, sel.spans)]
        else:
            gold = [(t.text, list(t.label)) for t in read_jsonl(args.gold, Task)]
    for name in variants:
        nlp = variant(args.model, name)
        results["heldout_pd"][name] = score(nlp_predict(nlp), heldout)
        results["msra"][name] = score(nlp_predict(nlp), msra, msra_view, ("ORG", "LOC"))
        if gold is not None:
            results["gold"][name] = score(nlp_predict(nlp), gold)
    results["msra"]["jieba.posseg (peer)"] = score(jieba_predict, msra, None, ("ORG", "LOC"))

    print(f"\nHeld-out People's Daily lines ({len(heldout):,}, silver; never trained on): P / R / F")
    _table(results["heldout_pd"], LABELS)
    print(f"\nMSRA NER test ({len(msra):,} sentences; exact spans; GPE+LOC = LOC; PER ignored): P / R / F")
    _table(results["msra"], ("ORG", "LOC"))
    if gold is not None:
        which = f", {args.split} articles of {args.splits}" if args.splits else ""
        print(f"\nGold tasks {args.gold} ({len(gold)} segments{which}): P / R / F")
        _table(results["gold"], LABELS)
    print(f"\nChosen by bootstrap: {chosen}, on {meta.get('zhner', {}).get('variant_selected_on', 'silver dev lines')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out}")


def _table(rows: dict, labels: Iterable[str]) -> None:
    labels = list(labels)
    print(f"  {'':<22}" + "".join(f"{label:>20}" for label in [*labels, "micro"]))
    for name, res in rows.items():
        cells = [res["per_label"].get(label) for label in labels] + [res["micro"]]
        print(f"  {name:<22}" + "".join(
            f"{c['p']:>7.3f}{c['r']:>6.3f}{c['f']:>7.3f}" if c else f"{'-':>20}" for c in cells))


if __name__ == "__main__":
    main()
