"""`zhner.MixedCorpus.v1`: the few gold documents, repeated, mixed with a silver sample each epoch.

Fine-tuning the bootstrap NER on a handful of corrected articles alone makes it forget what
the silver People's Daily lines taught it (labels and words absent from the seeds). Each epoch
this reader yields every gold example `gold_repeat` times plus a fresh seeded sample of
`silver_limit` silver examples, shuffled together. Registered through the `spacy_readers` entry
point of pyproject.toml, so `python -m spacy train configs/ner.cfg` needs no `--code`.

With `train_on_dev = true` the dev documents (`dev_path`) are trained on as well, as gold: the
final fit on train + dev with a step count fixed in advance, the usual choice when gold is too
scarce to hold a dev set out of training. spaCy still scores the dev corpus, but those scores
are then a fit, not a selection: use `model-last` (`last_model_if_trained_on_dev`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from spacy.language import Language
from spacy.training import Corpus, Example

READER_NAME = "zhner.MixedCorpus.v1"


class MixedCorpus:
    """Gold × `gold_repeat` + a new silver sample of `silver_limit` per call (one call per epoch)."""

    def __init__(
        self, gold: Sequence[Path], silver: Path | None, *, silver_limit: int, gold_repeat: int, seed: int,
        gold_preproc: bool = False, max_length: int = 0,
    ) -> None:  # fmt: skip
        self.gold = [Corpus(path, gold_preproc=gold_preproc, max_length=max_length) for path in gold]
        # silver docs hold the corpus's own words: re-segmenting them every epoch buys nothing
        self.silver = Corpus(silver, gold_preproc=True) if silver else None
        self.silver_limit = silver_limit
        self.gold_repeat = gold_repeat
        self.rng = random.Random(seed)
        self._silver_cache: list[Example] | None = None

    def silver_sample(self, nlp: Language) -> list[Example]:
        if self.silver is None or self.silver_limit == 0:
            return []
        if self._silver_cache is None:
            self._silver_cache = list(self.silver(nlp))
        pool = self._silver_cache
        if self.silver_limit < 0 or self.silver_limit >= len(pool):
            return list(pool)
        return self.rng.sample(pool, self.silver_limit)

    def __call__(self, nlp: Language) -> Iterator[Example]:
        gold = [eg for corpus in self.gold for eg in corpus(nlp)]
        examples = gold * self.gold_repeat + self.silver_sample(nlp)
        self.rng.shuffle(examples)
        yield from examples


def create_mixed_corpus(
    gold_path: str | Path,
    silver_path: str | Path | None = None,
    silver_limit: int = 2000,
    gold_repeat: int = 10,
    seed: int = 0,
    gold_preproc: bool = False,
    max_length: int = 0,
    train_on_dev: bool = False,
    dev_path: str | Path | None = None,
) -> Callable[[Language], Iterator[Example]]:
    """The reader behind `@readers = "zhner.MixedCorpus.v1"` (silver_limit -1: all silver docs)."""
    if gold_path is None:
        raise ValueError("zhner.MixedCorpus.v1: gold_path is null; pass --paths.train")
    gold = [Path(gold_path)]
    if train_on_dev:
        if dev_path is None:
            raise ValueError("zhner.MixedCorpus.v1: train_on_dev is true but dev_path is null; pass --paths.dev")
        if not Path(dev_path).exists():
            raise ValueError(f"zhner.MixedCorpus.v1: dev file {dev_path} not found (train_on_dev is true)")
        gold.append(Path(dev_path))
    if gold_repeat < 1:
        raise ValueError(f"zhner.MixedCorpus.v1: gold_repeat must be 1 or more, got {gold_repeat}")
    silver = Path(silver_path) if silver_path else None
    if silver is not None and not silver.exists():
        raise ValueError(f"zhner.MixedCorpus.v1: silver file {silver} not found; run `zhner silver-export`")
    return MixedCorpus(
        gold, silver, silver_limit=silver_limit, gold_repeat=gold_repeat, seed=seed,
        gold_preproc=gold_preproc, max_length=max_length,
    )  # fmt: skip


def trains_on_dev(config: Mapping) -> bool:
    """Whether a training config's train corpus is this reader with the dev documents trained on."""
    train = config.get("corpora", {}).get("train", {})
    return train.get("@readers") == READER_NAME and bool(train.get("train_on_dev", False))


def last_model_if_trained_on_dev(config: Mapping, output: Path) -> Path:
    """The model to evaluate in a `spacy train` output folder: model-last after a fit on dev, else model-best."""
    output = Path(output)
    best = output / "model-best"
    if trains_on_dev(config) or not best.exists():
        return output / "model-last"
    return best
