"""Baidu's LAC (Lexical Analysis of Chinese) as a spaCy pipeline: what `--model lac` loads.

LAC 2.1.2 (`pip install lac`, Apache-2.0) segments words and tags them with one BiGRU-CRF:
parts of speech of a PKU-like set (n, nz, m, q, t, ...) and four entity tags, PER, LOC, ORG and
TIME. Its weights ship inside the package; nothing is downloaded at run time. It runs on
PaddlePaddle and is an optional extra (`make lac`, or the `[lac]` extra of pyproject.toml),
never a requirement of `zh_news_base`.

- `import_lac()` imports it on the Python 3.11 wheels of PaddlePaddle, which no longer have the
  `paddle.fluid` that LAC imports (`E220` when either is missing);
- the component `zhner_lac` runs LAC over batches of docs and sets `doc.ents` in zhner's labels,
  through the mapping `lac` of `configs/labels.yml` (`chunk_spans`); LAC's own entity chunks are
  kept in `doc.spans["zhner_lac"]` with its tags;
- `build_pipeline()` is a blank `zh` pipeline (character tokens, on whose boundaries every LAC
  chunk falls) with that component: `zhner preannotate --model lac` and `zhner evaluate lac`.

LAC's tags are looked up in the mapping *before* the rule that labels of zhner's scheme pass
unchanged: its LOC is any place (LAC does not split GPE from LOC) and its ORG is not bound by
our guidelines. A key may be a sequence of tags joined by `+` (`m+q`): consecutive words with
those tags become one span; the longest key wins.

The mapping alone does not follow configs/guidelines.md, so the component then applies its
conventions (`Conventions`, off with `conventions = false`): a place is GPE or LOC by the rules
the base's silver labels follow (the cpca gazetteer and government suffixes first, then natural
features, roads and facilities: 长江, 青藏高原, 张江路88号, 工人体育场 are LOC) and a chain of divisions
is one GPE (上海市浦东新区); LAC's TIME is a DATE only where it names a date (今天上午, 清明节期间,
4月24日至29日 one span), not a time of day alone, a clock time (上午10时30分) or a vague word (目前,
近日, 此前, 最近).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans, minibatch

from zhner.config import load_labels
from zhner.errors import fail
from zhner.pipeline.silver import SilverRules, load_rules, place_label

FACTORY = "zhner_lac"
MODEL_NAME = "lac"  # the name `--model` takes; a folder called lac is given as ./lac
SPANS_KEY = "zhner_lac"  # LAC's entity chunks, with LAC's own tags
ENTITY_TAGS = ("PER", "LOC", "ORG", "TIME")

Triple = tuple[int, int, str]
Rules = dict[tuple[str, ...], str | None]


def is_lac(model: object) -> bool:
    """Whether a `--model` value names LAC (the string `lac`, not a path object)."""
    return isinstance(model, str) and model == MODEL_NAME


def import_lac() -> type:
    """LAC's class, importable on PaddlePaddle 2.6, whose Python 3.11 wheels lack `paddle.fluid`.

    LAC imports `paddle.fluid` and `paddle.fluid.core`; at inference it uses only what
    `paddle.base` still has (CPUPlace, Executor, AnalysisConfig, create_paddle_predictor), so both
    names are aliased there. The core must be the same module object: importing it a second time
    under another name aborts the process.
    """
    os.environ.setdefault("GLOG_minloglevel", "2")  # paddle's C++ log: a deprecation line per model
    try:
        import paddle
        import paddle.base
    except ImportError as err:
        raise fail("E220", reason=f"PaddlePaddle: {err}") from None
    sys.modules.setdefault("paddle.fluid", paddle.base)
    sys.modules.setdefault("paddle.fluid.core", paddle.base.core)
    try:
        from LAC import LAC
    except ImportError as err:
        raise fail("E220", reason=f"LAC: {err}") from None
    return LAC


def lac_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lac")
    except PackageNotFoundError:
        return "0.0.0"


def load_lac(cpu_threads: int = 1) -> object:
    """A LAC in mode `lac` whose predictor uses `cpu_threads` math threads.

    LAC builds its AnalysisConfig itself and offers no thread setting, so the config class its
    module uses is wrapped while the model is built.
    """
    lac_class = import_lac()
    from LAC import models

    original = models.AnalysisConfig

    def analysis_config(*args: object) -> object:
        config = original(*args)
        config.set_cpu_math_library_num_threads(cpu_threads)
        return config

    models.AnalysisConfig = analysis_config
    try:
        return lac_class(mode="lac")
    finally:
        models.AnalysisConfig = original


# -- the mapping ---------------------------------------------------------------------------------

# The guidelines' conventions (configs/guidelines.md) applied after the mapping. Places follow the
# rules the base's silver labels follow (`place_label` with the `silver:` block of
# configs/bootstrap.yml), plus the facilities of general news that those rules, written for
# People's Daily 1998, do not end with.
FACILITY_SUFFIXES = ("体育场", "体育馆", "体育中心", "机场", "车站", "火车站", "高铁站", "地铁站", "码头", "港口", "大桥",
                     "纪念馆", "博物馆", "美术馆", "展览馆", "图书馆", "大会堂", "大剧院", "大厦", "中心广场", "花园",
                     "小区", "大道", "景区", "遗址", "故居", "校区", "开发区", "工业园", "保税区")
REGION_WORDS = ("长三角", "珠三角", "京津冀", "大湾区", "粤港澳大湾区", "亚太", "欧亚")
# LAC's TIME covers times of day, clock times and vague references, which the guidelines leave out:
# `上午` alone or `10时30分` are not DATE (`今天上午` is), nor are `近日`, `日前`, `此前`, `近期` or `最近`
# (the silver rules' `date_exclude` plus these); a day part with a clock time keeps the day part
# only where a date comes with it (`今日凌晨` of 今日凌晨2时30分).
TIMES_OF_DAY = frozenset({"上午", "下午", "中午", "晚上", "早上", "早晨", "清晨", "凌晨", "傍晚", "黄昏", "夜间", "夜里",
                          "深夜", "午后", "晚间", "白天", "黎明", "半夜", "午夜", "晚", "早", "夜"})
VAGUE_TIMES = frozenset({"近日", "日前", "近来", "平时", "平日", "随后", "每年", "每天", "每日", "每月", "每周", "新时代",
                         "长期以来", "第一时间", "同期", "当下", "此刻", "早日", "新赛季", "前不久", "不久前", "刚刚", "近年", "近年来"})
_CLOCK = re.compile(r"[0-9０-９一二三四五六七八九十两零〇]+\s*(时|点|:|：|分|秒)|^(几|多)?(个)?(小时|分钟|秒钟?)$")
_RANGE_WORDS = frozenset({"至", "到", "-", "－", "—", "–", "~", "～"})
_ROAD_NUMBER = re.compile(r"^[0-9０-９一二三四五六七八九十百零〇]+号$")
_ROAD_ENDS = ("路", "街", "大街", "大道", "巷", "胡同", "道")


@dataclass(frozen=True)
class Conventions:
    """What the guidelines change in LAC's mapped chunks: places split, dates kept, chains joined."""

    places: SilverRules
    date_exclude: frozenset[str]
    date_trailers: tuple[str, ...]

    @classmethod
    def load(cls, bootstrap_path: Path | None = None) -> Conventions:
        rules = load_rules(bootstrap_path)
        places = rules.model_copy(update={"loc_suffixes": [*rules.loc_suffixes, *FACILITY_SUFFIXES],
                                          "loc_words": [*rules.loc_words, *REGION_WORDS]})
        return cls(places=places, date_exclude=frozenset(rules.date_exclude) | VAGUE_TIMES,
                   date_trailers=tuple(rules.date_trailers))

    def date_word(self, word: str) -> str | None:
        """`date`, `time` (of day: only inside a DATE) or None (not part of any DATE)."""
        word = word.strip()
        if not word or word in self.date_exclude or _CLOCK.search(word):
            return None
        return "time" if word in TIMES_OF_DAY else "date"


def compile_rules(mapping: Mapping[str, str | None], labels: Iterable[str], *, source: object) -> Rules:
    """The mapping's keys as tag sequences (`m+q` → ("m", "q")), its targets checked against the scheme."""
    known = set(labels)
    rules: Rules = {}
    for key, label in mapping.items():
        if label is not None and label not in known:
            raise fail("E005", path=source, reason=f"mappings.lac: {key!r} maps to {label!r}, not a label of the scheme")
        tags = tuple(t.strip() for t in key.split("+"))
        if not all(tags):
            raise fail("E005", path=source, reason=f"mappings.lac: {key!r} is not a tag or tag+tag")
        rules[tags] = label
    return rules


def chunk_offsets(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Character offsets of LAC's words, which cover the text exactly, white space included."""
    if "".join(words) != text:
        raise fail("E221", reason=f"its words do not add up to the text {text[:40]!r}")
    offsets, pos = [], 0
    for word in words:
        offsets.append((pos, pos + len(word)))
        pos += len(word)
    return offsets


def mapped_chunks(tags: Sequence[str], rules: Rules) -> list[tuple[int, int, str]]:
    """(first word, end word, label) of the chunks the mapping labels; the longest key wins."""
    lengths = sorted({len(k) for k in rules}, reverse=True)
    chunks = []
    i = 0
    while i < len(tags):
        n, label = 1, None
        for size in lengths:
            key = tuple(tags[i : i + size])
            if len(key) == size and key in rules:
                n, label = size, rules[key]
                break
        if label is not None:
            chunks.append((i, i + n, label))
        i += n
    return chunks


def chunk_spans(text: str, words: Sequence[str], tags: Sequence[str], rules: Rules,
                conventions: Conventions | None = None) -> list[Triple]:
    """zhner spans from LAC's (word, tag) chunks, mapped by `rules`, with the guidelines' conventions
    when `conventions` is given; edges never on white space."""
    offsets = chunk_offsets(text, words)
    chunks = mapped_chunks(tags, rules)
    if conventions is not None:
        chunks = _apply_conventions(words, chunks, conventions)
    spans = []
    for first, last, label in chunks:
        start, end = offsets[first][0], offsets[last - 1][1]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append((start, end, label))
    return spans


def _apply_conventions(words: Sequence[str], chunks: list[tuple[int, int, str]],
                       conv: Conventions) -> list[tuple[int, int, str]]:
    """Places: GPE or LOC by the silver rules, a chain of GPE words one GPE, a road with its number
    one LOC. DATE: vague words and clock times out, a time of day only next to a date, a trailer
    (期间, 前夕 ...) in, a range (4月24日至29日) one span."""
    word = lambda a, b: "".join(words[a:b])  # noqa: E731
    joined: list[tuple[int, int, str]] = []
    for chunk in chunks:  # consecutive TIME words are one stretch (2021年3月5日 + 上午)
        if joined and chunk[2] == "DATE" == joined[-1][2] and joined[-1][1] == chunk[0]:
            joined[-1] = (joined[-1][0], chunk[1], "DATE")
        else:
            joined.append(chunk)
    out: list[tuple[int, int, str]] = []
    for first, last, label in joined:
        if label in ("GPE", "LOC"):
            label = place_label(word(first, last), conv.places)
            if out and label == "GPE" and out[-1][2] == "GPE" and out[-1][1] == first:
                out[-1] = (out[-1][0], last, "GPE")
                continue
            if label == "LOC" and word(first, last).endswith(_ROAD_ENDS) and last < len(words) \
                    and _ROAD_NUMBER.match(words[last]):
                last += 1
            out.append((first, last, label))
        elif label == "DATE":
            kinds = [conv.date_word(w) for w in words[first:last]]
            i = 0
            while i < len(kinds):  # each stretch of date and time-of-day words
                if kinds[i] is None:
                    i += 1
                    continue
                j = i
                while j < len(kinds) and kinds[j] is not None:
                    j += 1
                if "date" in kinds[i:j]:
                    a, b = first + i, first + j
                    if out and out[-1][2] == "DATE" and (out[-1][1] == a or (
                            out[-1][1] == a - 1 and words[a - 1].strip() in _RANGE_WORDS)):
                        a = out.pop()[0]  # 2月21日 + 上午, or 4月24日 至 29日
                    out.append((a, b, "DATE"))
                i = j
        else:
            out.append((first, last, label))
    # a trailer after a DATE belongs to it (清明节期间)
    trailed = lambda a, b, label: label == "DATE" and b < len(words) and words[b] in conv.date_trailers  # noqa: E731
    return [(a, b + 1 if trailed(a, b, label) else b, label) for a, b, label in out]


# -- the spaCy component -------------------------------------------------------------------------


@Language.factory(
    FACTORY,
    default_config={"mapping": "lac", "labels_path": None, "conventions": True, "batch_size": 64, "cpu_threads": 1},
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
)
def make_lac_component(
    nlp: Language, name: str, mapping: str, labels_path: str | None, conventions: bool, batch_size: int,
    cpu_threads: int,
) -> LacTagger:
    return LacTagger(mapping=mapping, labels_path=labels_path, conventions=conventions, batch_size=batch_size,
                     cpu_threads=cpu_threads)


class LacTagger:
    """Sets `doc.ents` from LAC, one `LAC.run` per batch of docs.

    LAC itself is loaded on first use in each process, so that `nlp.pipe(n_process=...)` workers
    build their own predictor instead of sharing the parent's.
    """

    def __init__(self, *, mapping: str = "lac", labels_path: str | None = None, conventions: bool = True,
                 batch_size: int = 64, cpu_threads: int = 1):
        scheme = load_labels(Path(labels_path) if labels_path else None)
        source = labels_path or "configs/labels.yml"
        if mapping not in scheme.mappings:
            raise fail("E005", path=source, reason=f"no mapping named {mapping!r}")
        self.rules = compile_rules(scheme.mappings[mapping], scheme.labels, source=source)
        self.conventions = Conventions.load() if conventions else None
        self.batch_size = batch_size
        self.cpu_threads = cpu_threads
        import_lac()  # a missing install fails when the pipeline is built, not on the first batch
        self._lac: object | None = None
        self._pid: int | None = None

    @property
    def lac(self) -> object:
        if self._lac is None or self._pid != os.getpid():
            self._lac, self._pid = load_lac(self.cpu_threads), os.getpid()
        return self._lac

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_lac": None, "_pid": None}

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            # LAC drops empty texts itself but puts them back at wrong places when several are empty
            todo = [doc for doc in batch if doc.text.strip()]
            results = self.lac.run([doc.text for doc in todo]) if todo else []
            for doc, (words, tags) in zip(todo, results, strict=True):
                self.set_annotations(doc, words, tags)
            for doc in batch:
                if not doc.text.strip():
                    doc.spans[SPANS_KEY] = []
            yield from batch

    def set_annotations(self, doc: Doc, words: Sequence[str], tags: Sequence[str]) -> None:
        ents = []
        for start, end, label in chunk_spans(doc.text, words, tags, self.rules, self.conventions):
            span = doc.char_span(start, end, label=label)
            if span is None:
                raise fail("E221", reason=f"span {start}:{end} of {doc.text[:40]!r} is not on token boundaries")
            ents.append(span)
        doc.ents = filter_spans(ents)
        raw = []
        for (start, end), tag in zip(chunk_offsets(doc.text, words), tags):
            if tag in ENTITY_TAGS and (span := doc.char_span(start, end, label=tag, alignment_mode="expand")):
                raw.append(span)
        doc.spans[SPANS_KEY] = raw


def build_pipeline(*, mapping: str = "lac", labels_path: str | Path | None = None, conventions: bool = True,
                   batch_size: int = 64, cpu_threads: int = 1) -> Language:
    """A blank `zh` pipeline (character tokens) with LAC as its only component.

    `conventions=False` keeps LAC's chunks as the mapping labels them (every place GPE, every TIME DATE).
    """
    import_lac()
    nlp = spacy.blank("zh")
    nlp.add_pipe(FACTORY, config={"mapping": mapping, "labels_path": str(labels_path) if labels_path else None,
                                  "conventions": conventions, "batch_size": batch_size, "cpu_threads": cpu_threads})
    described = f"configs/labels.yml mappings.{mapping}" + (" and configs/guidelines.md" if conventions else "")
    nlp.meta.update({
        "name": MODEL_NAME,
        "version": lac_version(),
        "description": f"Baidu LAC {lac_version()} (lexical analysis, PaddlePaddle), labels by {described}",
        "license": "Apache-2.0",
        "sources": [{"name": "LAC", "url": "https://github.com/baidu/lac", "license": "Apache-2.0"}],
    })
    return nlp
