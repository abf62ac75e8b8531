"""Does uncertainty sampling beat random selection? Annotation rounds with a simulated annotator.

    nice -n 10 python bench/bench_rounds.py [--strategies uncertainty,random,diversity] [--seeds 0,1,2]
        [--rounds 5] [--size 200] [--steps 80] [--resume] [--chart docs/img/rounds.png]

The pool has known answers: People's Daily 1998 lines the base never saw (bootstrap's held-out
split, configs/bootstrap.yml; never the news dev set, never MSRA), their PKU tags mapped to our
labels as bootstrap maps them (zhner.pipeline.silver). The held-out blocks of 20 lines are dealt
once: a quarter are the evaluation set (whole lines), the rest are the pool's articles, cut into
segments of at most --max-chars characters by ingest's own rule. Each round runs the real code
of a user's round without Doccano: `zhner next-batch` (pick, pre-annotate with the latest model,
ledger; it also scores that model on the evaluation set), then the simulated annotator turns each
task's pre-annotations into the answers (a pull), `zhner convert` reads every round so far, and
configs/ner.cfg fine-tunes the base on it (--steps steps of --batch-words words, gold only: the
answers follow PKU's conventions, the silver lines ner.cfg mixes in follow the teacher's). A seed
is the whole run's: the random picks and tie-breaks, and the training's initialisation and shuffling.
Effort is `zhner rounds`' count of annotator edits (boundary fixes, relabels, deletions, additions).

Writes bench/results/bench_rounds.json and .md (the table) and the chart.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import spacy
import srsly
from spacy.tokens import DocBin

from zhner.convert import convert
from zhner.curve import train_once
from zhner.evaluate import evaluate
from zhner.ingest import segment_article
from zhner.io import read_jsonl, write_jsonl, write_splits
from zhner.loop import next_batch, rounds_report
from zhner.pipeline.bootstrap import load_bootstrap_config, load_data
from zhner.schemas import Article, Segment, Splits, Task, TaskMeta, text_sha1

REPO = Path(__file__).resolve().parents[1]
DEAL_SEED = 1998  # how the held-out blocks are dealt into evaluation and pool: the same for every run
SETTINGS = ("rounds", "size", "steps", "batch_words", "max_chars", "eval_share", "base")  # what --resume must match


def build_pool(work: Path, max_chars: int, eval_share: float) -> dict:
    """segments.jsonl + splits.json of the pool, its answers, and the evaluation set as gold tasks."""
    cfg = load_bootstrap_config()
    data = load_data(cfg)
    block = cfg.corpus.block
    blocks: dict[int, list[int]] = {}
    for i in data.split.heldout:
        blocks.setdefault(i // block, []).append(i)
    order = sorted(blocks)
    random.Random(DEAL_SEED).shuffle(order)
    n_eval = round(len(order) * eval_share)
    evaluation, pool_blocks = sorted(order[:n_eval]), sorted(order[n_eval:])
    gold = []
    for b in evaluation:
        for i in blocks[b]:
            sent = data.silver[i]
            if sent.text.strip():
                gold.append(task(f"eval{b:04d}-{i:05d}-00", sent.text, sent.char_spans()))
    write_jsonl(work / "eval.jsonl", gold)
    segments, answers, cut = [], {}, 0
    for b in pool_blocks:
        lines = [data.silver[i] for i in blocks[b] if data.silver[i].text.strip()]
        article = Article(id=f"pd{b:04d}", body="\n".join(s.text for s in lines), encoding="utf-8",
                          file="199801.txt", sha256="-")  # fmt: skip
        for seg in segment_article(article, max_chars):
            spans = lines[seg.paragraph].char_spans()
            start = seg.start - sum(len(s.text) + 1 for s in lines[: seg.paragraph])
            inside = [(a - start, e - start, lab) for a, e, lab in spans if start <= a and e <= start + len(seg.text)]
            cut += sum(1 for a, e, _ in spans if a < start + len(seg.text) and e > start) - len(inside)
            segments.append(seg)
            answers[seg.id] = inside
    write_jsonl(work / "segments.jsonl", segments)
    write_splits(work / "splits.json", Splits(seed=DEAL_SEED, articles={f"pd{b:04d}": "train" for b in pool_blocks}))
    return {"segments": len(segments), "articles": len(pool_blocks), "answers": answers, "cut_spans": cut,
            "eval_lines": len(gold), "eval_entities": sum(len(t.label) for t in gold),
            "pool_entities": sum(len(v) for v in answers.values())}  # fmt: skip


def task(sid: str, text: str, spans: list[tuple[int, int, str]]) -> Task:
    meta = TaskMeta(segment_id=sid, article_id=sid.split("-")[0], text_sha1=text_sha1(text))
    return Task(text=text, label=sorted(spans), meta=meta)


def annotate(tasks: Path, answers: dict, out: Path) -> int:
    """The simulated annotator: every task's final spans are the answers (what a pull returns)."""
    done = []
    for t in read_jsonl(tasks, Task):
        done.append(t.model_copy(update={"label": sorted(answers[t.meta.segment_id]),
                                         "meta": t.meta.model_copy(update={"annotator": "sim"})}))  # fmt: skip
    return write_jsonl(out, done)


def run(strategy: str, seed: int, args, work: Path, pool: dict) -> dict:
    """One series of rounds; per round the pre-annotator's held-out F, the effort, and timings."""
    run_dir = work / f"{strategy}-{seed}"
    corrected = run_dir / "corrected"
    corrected.mkdir(parents=True)
    model, steps, seconds = args.base, [], {"select+preannotate": 0.0, "convert": 0.0, "train": 0.0, "heldout": 0.0}
    overrides = {
        # the seed is the run's: the training's (initialisation, shuffling) as well as the pick's, so
        # that a strategy which picks the same segments for every seed (uncertainty) still varies as a user's would
        "system.seed": seed, "paths.base_model": args.base, "paths.silver": None, "corpora.train.silver_limit": 0,
        "corpora.train.gold_repeat": 1, "corpora.train.train_on_dev": False, "training.max_steps": args.steps,
        "training.eval_frequency": 10 * args.steps, "training.batcher.size.start": args.batch_words,
        "training.batcher.size.stop": args.batch_words,
    }  # fmt: skip
    for r in range(1, args.rounds + 1):
        result = next_batch(project="bench", segments=work / "segments.jsonl", splits=work / "splits.json",
                            model=str(model), size=args.size, strategy=strategy, seed=seed, annotated=[corrected],
                            ledger=run_dir / "ledger.json", out=run_dir / f"round{r:02d}.jsonl",
                            heldout=work / "eval.jsonl")  # fmt: skip
        for k, v in result.seconds.items():
            seconds[k] += v
        annotate(Path(result.entry.tasks), pool["answers"], corrected / f"bench-round{r:02d}.jsonl")
        t = time.perf_counter()
        convert([corrected], run_dir / "corpus", splits=work / "splits.json", model=args.base, force=True)
        train = run_dir / "corpus" / "train.spacy"
        dev = run_dir / "corpus" / "dev-small.spacy"  # spaCy wants a dev set; model-last is kept, so it only logs
        vocab_docs = list(DocBin().from_disk(train).get_docs(spacy.blank("zh").vocab))[:10]
        DocBin(docs=vocab_docs, store_user_data=True).to_disk(dev)
        seconds["convert"] += time.perf_counter() - t
        t = time.perf_counter()
        new_model = train_once(REPO / "configs" / "ner.cfg", train, dev, run_dir / f"model{r:02d}",
                               overrides=overrides, use_gpu=-1, percent=100, last=True)  # fmt: skip
        seconds["train"] += time.perf_counter() - t
        if model != args.base:
            shutil.rmtree(Path(model).parent)  # 90 MB each: only the latest model is kept
        model = new_model
        steps.append({"round": r, "segments": len(result.entry.segments), "pre_f": result.entry.heldout_f,
                      "mean_uncertainty": result.entry.mean_uncertainty,
                      "chars": sum(len(t.text) for t in read_jsonl(Path(result.entry.tasks), Task))})  # fmt: skip
        print(f"  {strategy} seed {seed} round {r}: pre-annotator F {result.entry.heldout_f:.4f}", flush=True)
    t = time.perf_counter()
    final_f = evaluate(model=str(model), data=work / "eval.jsonl")["model"]["strict"]["f"]
    seconds["heldout"] += time.perf_counter() - t
    report = rounds_report(project="bench", corrected=[corrected], ledger=run_dir / "ledger.json")
    for step, row in zip(steps, report["rounds"]):
        step["effort"] = row["effort"]
    shutil.rmtree(run_dir)
    return {"strategy": strategy, "seed": seed, "rounds": steps, "final_f": final_f, "seconds": seconds}


def curves(run_: dict) -> tuple[list[int], list[int], list[float]]:
    """Cumulative segments and edits, and the held-out F after each (0 rounds: the base)."""
    segs, edits, f = [0], [0], [run_["rounds"][0]["pre_f"]]
    for i, step in enumerate(run_["rounds"]):
        segs.append(segs[-1] + step["segments"])
        edits.append(edits[-1] + step["effort"]["edits"])
        f.append(run_["rounds"][i + 1]["pre_f"] if i + 1 < len(run_["rounds"]) else run_["final_f"])
    return segs, edits, f


def table(result: dict) -> str:
    strategies = result["strategies"]
    by = {s: [r for r in result["runs"] if r["strategy"] == s] for s in strategies}
    n = result["rounds"]
    lines = [
        "| strategy | " + " | ".join(f"after {k} rounds" for k in range(n + 1)) + " | edits in all | segments in all |",
        "|---|" + "---:|" * (n + 3),
    ]
    for s in strategies:
        cs = [curves(r) for r in by[s]]
        cells = []
        for k in range(n + 1):
            fs = [c[2][k] for c in cs]
            cells.append(f"{statistics.mean(fs):.4f} ({min(fs):.4f}–{max(fs):.4f})")
        edits = [c[1][-1] for c in cs]
        segs = [c[0][-1] for c in cs]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {statistics.mean(edits):.0f} ({min(edits)}–{max(edits)}) "
                     f"| {statistics.mean(segs):.0f} |")  # fmt: skip
    if "random" in by:
        lines += ["", *against_random(by, n)]
    return "\n".join(lines) + "\n"


def f_at(run_: dict, edits: float) -> float:
    """A run's held-out F after `edits` annotator edits, read off its curve (linear between rounds)."""
    _, xs, fs = curves(run_)
    for (x0, f0), (x1, f1) in zip(zip(xs, fs), zip(xs[1:], fs[1:])):
        if x0 <= edits <= x1:
            return f0 + (f1 - f0) * (edits - x0) / (x1 - x0) if x1 > x0 else f1
    return fs[-1]


def against_random(by: dict, n: int) -> list[str]:
    """Each strategy minus random, seed by seed: at equal segments (after n rounds) and at equal edits."""
    rand = {r["seed"]: r for r in by["random"]}
    budget = min(curves(r)[1][-1] for runs in by.values() for r in runs)  # edits every run reached
    lines = [
        f"| strategy − random, same seed | F after {n} rounds (equal segments) | F at {budget} edits (equal effort) "
        "| edits per segment |",
        "|---|---:|---:|---:|",
    ]
    for s, runs in by.items():
        pairs = [(r, rand[r["seed"]]) for r in runs if r["seed"] in rand]
        seg = [curves(a)[2][-1] - curves(b)[2][-1] for a, b in pairs]
        eff = [f_at(a, budget) - f_at(b, budget) for a, b in pairs]
        per = statistics.mean(curves(r)[1][-1] / curves(r)[0][-1] for r in runs)
        fmt = lambda xs: f"{statistics.mean(xs):+.4f} (" + ", ".join(f"{x:+.4f}" for x in xs) + ")"  # noqa: E731
        lines.append(f"| {s} | {fmt(seg)} | {fmt(eff)} | {per:.2f} |")
    return lines


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = {"uncertainty": "tab:red", "random": "tab:blue", "diversity": "tab:green", "mix": "tab:purple"}
    for s in result["strategies"]:
        cs = [curves(r) for r in result["runs"] if r["strategy"] == s]
        for ax, x_index in zip(axes, (0, 1)):
            xs = [statistics.mean(c[x_index][k] for c in cs) for k in range(len(cs[0][0]))]
            mean = [statistics.mean(c[2][k] for c in cs) for k in range(len(cs[0][2]))]
            lo = [min(c[2][k] for c in cs) for k in range(len(cs[0][2]))]
            hi = [max(c[2][k] for c in cs) for k in range(len(cs[0][2]))]
            ax.plot(xs, mean, "o-", color=colours.get(s), label=f"{s} (mean of {len(cs)} seeds)")
            ax.fill_between(xs, lo, hi, color=colours.get(s), alpha=0.15)
    axes[0].set_xlabel("segments annotated")
    axes[1].set_xlabel("annotator edits (boundary fixes, relabels, deletions, additions)")
    axes[0].set_ylabel("strict micro F on held-out People's Daily lines")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Annotation rounds, simulated annotator ({result['date']}); band: min–max over seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="uncertainty,random,diversity")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=200, help="segments per round")
    ap.add_argument("--steps", type=int, default=80, help="training steps per round (fine-tuning the base)")
    ap.add_argument("--batch-words", type=int, default=400, help="words per training batch")
    ap.add_argument("--max-chars", type=int, default=80, help="longest segment (ingest's cutting rule)")
    ap.add_argument("--eval-share", type=float, default=0.25, help="share of the held-out blocks kept for evaluation")
    ap.add_argument("--base", default="models/zh_news_base")
    ap.add_argument("--chart", type=Path, default=REPO / "docs" / "img" / "rounds.png")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "bench_rounds.json")
    ap.add_argument("--resume", action="store_true", help="keep the runs --out already holds (same settings)")
    args = ap.parse_args()
    args.base = str(Path(args.base).absolute())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings = {k: str(getattr(args, k)) for k in SETTINGS}
    result = {"date": time.strftime("%Y-%m-%d"), "settings": settings, "strategies": [], "seeds": [],
              "rounds": args.rounds, "runs": [], "seconds": 0.0}  # fmt: skip
    if args.resume and args.out.exists():
        result = srsly.read_json(args.out)
        if result["settings"] != settings:
            raise SystemExit(f"{args.out} was run with other settings: {result['settings']}")
    before = result["seconds"]  # the time of the runs kept
    result["strategies"] = list(dict.fromkeys([*result["strategies"], *args.strategies.split(",")]))
    result["seeds"] = sorted({*result["seeds"], *(int(s) for s in args.seeds.split(","))})
    done = {(r["strategy"], r["seed"]) for r in result["runs"]}
    with tempfile.TemporaryDirectory(prefix="zhner-bench-rounds-") as tmp:
        work = Path(tmp)
        pool = build_pool(work, args.max_chars, args.eval_share)
        result["pool"] = {k: v for k, v in pool.items() if k != "answers"}
        print(f"pool: {result['pool']}", flush=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for strategy in args.strategies.split(","):
                if (strategy, seed) in done:
                    continue
                result["runs"].append(run(strategy, seed, args, work, pool))
                result["seconds"] = before + time.perf_counter() - started
                srsly.write_json(args.out, result)  # what is done so far survives an interrupted run
    result["seconds"] = before + time.perf_counter() - started
    srsly.write_json(args.out, result)
    md = table(result)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    chart(result, args.chart)
    print(md)
    print(f"total {result['seconds']:.0f} s; " + json.dumps(
        {k: round(sum(r["seconds"][k] for r in result["runs"])) for k in result["runs"][0]["seconds"]}))


if __name__ == "__main__":
    main()
