"""The worker's side of `zhner apply`: a shard's bytes in, its output lines out.

The same function runs in the calling process (`--n-process 1`), in a process pool and on Dask
workers, which is what makes their outputs identical shard for shard. Each process loads its
pipeline once (`pipeline()` caches it; a pool's initializer and Dask's worker plugin call it
before the first shard) and uses it from one thread at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from spacy.language import Language

from zhner.apply.plan import ShardInput, model_fingerprint
from zhner.confidence import add_scorer
from zhner.config import LabelScheme
from zhner.errors import ZhnerError, fail
from zhner.io import decode_line, parse_jsonl_line
from zhner.nlp import check_offsets, doc_spans, load_pipeline, model_id
from zhner.schemas import Applied, Document, Entity, text_sha1


@dataclass(frozen=True)
class PipelineSpec:
    """How to build the pipeline and map its labels: sent to every worker with each shard.

    The label scheme travels as data, so a worker needs no configs/ folder of its own.
    """

    model: str
    scores: bool
    batch_size: int
    mapping: str
    scheme: LabelScheme = field(compare=False, hash=False)

    @property
    def key(self) -> tuple[str, bool, int]:
        return (self.model, self.scores, self.batch_size)


@dataclass
class Loaded:
    """A pipeline loaded in this process, with what identifies it in the output."""

    nlp: Language
    name: str
    version: str
    fingerprint: str
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ShardOutput:
    """A shard's output lines (UTF-8 JSONL) and counts, or the error that stopped it."""

    index: int
    data: bytes = b""
    records: int = 0
    characters: int = 0
    entities: int = 0
    labels: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    model: str = ""
    fingerprint: str = ""
    error: str | None = None
    pid: int = field(default_factory=os.getpid)
    cpu_seconds: float = 0.0  # the worker's CPU time on this shard (bench_apply compares engines by it)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_LOADED: dict[tuple[str, bool, int], Loaded] = {}
_LOADING = threading.Lock()
_load_count = 0


def pipeline(spec: PipelineSpec, *, reload: bool = False) -> Loaded:
    """This process's pipeline for `spec`, loaded on first use only, or again with `reload`
    (each run starts so: a model retrained at the same path is never served from the cache)."""
    global _load_count
    with _LOADING:
        if reload or spec.key not in _LOADED:
            nlp = load_pipeline(spec.model)
            if spec.scores:
                add_scorer(nlp, spec.batch_size)
            name, version = model_id(nlp)
            _LOADED[spec.key] = Loaded(nlp, name, version, model_fingerprint(nlp.path))
            _load_count += 1
        return _LOADED[spec.key]


def loads() -> int:
    """How many times this process has loaded a pipeline (the tests check: once per worker and run)."""
    return _load_count


def preload(spec: PipelineSpec) -> None:
    """Load the pipeline afresh before the first shard; a failure is reported by each shard instead."""
    try:
        pipeline(spec, reload=True)
    except ZhnerError:
        pass


def run_shard(task: ShardInput, spec: PipelineSpec) -> ShardOutput:
    """Apply the pipeline to every document of a shard; a bad line fails the shard, naming file and line."""
    out = ShardOutput(task.index)
    started = time.thread_time()  # this thread only: a Dask worker runs its event loop beside it
    try:
        loaded = pipeline(spec)
        out.model, out.fingerprint = f"{loaded.name} {loaded.version}", loaded.fingerprint
        documents = list(read_documents(task, loaded.nlp.max_length))
        with loaded.lock:
            lines = list(_apply(loaded, spec, documents, out))
    except ZhnerError as err:  # returned, not raised: the other shards go on, and it pickles as text
        return ShardOutput(task.index, error=str(err), model=out.model, fingerprint=out.fingerprint)
    out.data = "".join(lines).encode("utf-8")
    out.cpu_seconds = time.thread_time() - started
    return out


def read_documents(task: ShardInput, max_length: int) -> Iterator[Document]:
    """The shard's documents; JSONL lines are validated, a text file's lines are documents themselves."""
    for offset, raw in enumerate(task.data.split(b"\n")):
        lineno = task.first_line + offset
        line = decode_line(task.path, lineno, raw)
        if not line.strip():
            continue
        if task.kind == "text":
            document = Document(id=f"{task.name or os.path.basename(task.path)}:{lineno}", text=line.rstrip("\r"))
        else:
            document = parse_jsonl_line(task.path, lineno, line, Document)
        if len(document.text) > max_length:
            reason = f"text of {len(document.text)} characters, above the pipeline's max_length {max_length}"
            raise fail("E003", path=task.path, line=lineno, reason=reason)
        yield document


def _apply(loaded: Loaded, spec: PipelineSpec, documents: list[Document], out: ShardOutput) -> Iterator[str]:
    pairs = ((d.text, d) for d in documents)
    for doc, document in loaded.nlp.pipe(pairs, as_tuples=True, batch_size=spec.batch_size):
        spans = doc_spans(doc, spec.scheme, spec.mapping, out.dropped)
        check_offsets(document.id, document.text, doc, spans)
        entities = [
            Entity(start=s.start, end=s.end, label=s.label, text=document.text[s.start : s.end],
                   source=s.source, score=s.score)
            for s in spans
        ]
        record = Applied(
            id=document.id, article_id=document.article_id or document.id, offset=document.start,
            text_sha1=text_sha1(document.text), model=loaded.name, model_version=loaded.version,
            entities=entities,
        )
        out.records += 1
        out.characters += len(document.text)
        out.entities += len(entities)
        out.labels.update(e.label for e in entities)
        # characters as they are (not \u escapes): readable, and a third of the bytes for Chinese
        yield json.dumps(record.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")) + "\n"
