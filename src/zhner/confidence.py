"""Entity confidences for a greedy spaCy NER: marginal probabilities under a small beam.

spaCy's transition-based NER decides greedily and keeps no score. Re-parsing a batch with
`beam_parse` (same weights) gives the k best analyses with probabilities; an entity's score
is the summed probability of the analyses that contain it (spaCy's documented recipe).
Added at load time by `zhner preannotate` and `zhner apply` (add_scorer), never saved into a model. Only documents with
at least one entity the NER set are re-parsed: pattern spans score 1.0 and need no beam, and
a beam per document does not depend on the other documents of its batch, so skipping the
rest changes no score (on MSRA sentences it halves the beam's time).

With `all_docs` (`zhner preannotate --all-scores`, which `zhner next-batch` uses) every document
is re-parsed, and the probability of the NER's analysis as a whole is kept (`ANALYSIS_KEY`): the
mass of the analyses with exactly its entities, no other. Where the NER set nothing, that is the
probability mass of "no entity". It holds the doubt the entity scores cannot show: on held-out
People's Daily lines every entity the base set scored ≥ 0.99, while the analyses that add or
change an entity it did not set often held 20–50 % of the mass (docs/rounds.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from zhner.nlp import ANALYSIS_KEY, ENT_SCORES_KEY, PATTERN_SPANS_KEY, ent_score  # noqa: F401  ent_score: kept here for callers

FACTORY = "zhner_ent_scores"
USER_DATA_KEY = ENT_SCORES_KEY
BEAM_WIDTH = 8
BEAM_DENSITY = 0.0001  # spaCy's default pruning: analyses below this share of the best are dropped


@Language.factory(
    FACTORY, default_config={"ner": "ner", "beam_width": BEAM_WIDTH, "batch_size": 64, "all_docs": False}
)
def make_ent_scores(nlp: Language, name: str, ner: str, beam_width: int, batch_size: int, all_docs: bool) -> "EntScores":
    return EntScores(nlp, ner=ner, beam_width=beam_width, batch_size=batch_size, all_docs=all_docs)


class EntScores:
    """Stores `{"start:end:LABEL" (characters): probability}` in `doc.user_data` for the NER's entities;
    with `all_docs`, every document's analysis probability under `ANALYSIS_KEY` as well."""

    def __init__(self, nlp: Language, *, ner: str, beam_width: int, batch_size: int, all_docs: bool = False):
        self.nlp = nlp
        self.ner_name = ner
        self.beam_width = beam_width
        self.batch_size = batch_size
        self.all_docs = all_docs

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        ner = self.nlp.get_pipe(self.ner_name)
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            todo = []
            for doc in batch:
                if len(doc) and (self.all_docs or has_model_entity(doc)):
                    todo.append(doc)
                else:
                    doc.user_data[USER_DATA_KEY] = {}
                    if self.all_docs:  # an empty document: surely nothing to find
                        doc.user_data[ANALYSIS_KEY] = 1.0
            beams = ner.beam_parse(todo, beam_width=self.beam_width, beam_density=BEAM_DENSITY) if todo else []
            for doc, beam in zip(todo, beams, strict=True):
                probs: dict[tuple[int, int, str], float] = defaultdict(float)
                preset = pattern_token_spans(doc)  # spans the patterns set before the NER are in every analysis
                own = {(e.start, e.end, e.label_) for e in doc.ents} - preset
                same = 0.0
                for prob, ents in ner.moves.get_beam_parses(beam):
                    for start, end, label in ents:
                        probs[(start, end, label)] += prob
                    if set(ents) - preset == own:
                        same += prob
                if self.all_docs:
                    doc.user_data[ANALYSIS_KEY] = round(min(same, 1.0), 4)
                scores = {}
                for (start, end, label), prob in probs.items():
                    span = doc[start:end]
                    scores[f"{span.start_char}:{span.end_char}:{label}"] = round(min(prob, 1.0), 4)
                doc.user_data[USER_DATA_KEY] = scores
            yield from batch


def add_scorer(nlp: Language, batch_size: int = 64, *, all_docs: bool = False) -> bool:
    """Add the scorer after the pipeline's NER when that NER can beam-parse; whether it was added.
    `all_docs`: score the docs where the NER set nothing too (their no-entity probability)."""
    if "ner" not in nlp.pipe_names or "beam_parse" not in dir(nlp.get_pipe("ner")):
        return False
    nlp.add_pipe(FACTORY, after="ner", config={"batch_size": batch_size, "all_docs": all_docs})
    return True


def pattern_token_spans(doc: Doc) -> set[tuple[int, int, str]]:
    """(start token, end token, label) of the spans the pattern layer set."""
    return {(s.start, s.end, s.label_) for s in doc.spans.get(PATTERN_SPANS_KEY, [])}


def has_model_entity(doc: Doc) -> bool:
    """Whether any of the doc's entities was set by the NER rather than by the pattern layer."""
    if not doc.ents:
        return False
    preset = pattern_token_spans(doc)
    return any((e.start, e.end, e.label_) not in preset for e in doc.ents)
