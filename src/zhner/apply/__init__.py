"""`zhner apply`: a trained pipeline over a whole archive, in checksummed JSONL shards that a killed
run resumes, locally (`--n-process`) or on Dask distributed (`--engine dask`).

plan (inputs → shards, the output folder's state), work (a shard through the pipeline, the same
code on every engine), engines (this process, a process pool), cluster (Dask), run (`apply()`).
"""

from zhner.apply.run import ENGINES, Summary, apply

__all__ = ["ENGINES", "Summary", "apply"]
