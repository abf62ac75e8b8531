"""Catalogued errors: library code raises ZhnerError, only the CLI turns it into an exit code.

Each message has a code (E0xx) so that a line in a CI log can be searched for.
"""

from __future__ import annotations

from pathlib import PurePath


class ZhnerError(Exception):
    """A problem the user can fix; `str(err)` is a complete one-line message."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"[{code}] {message}")


class Errors:
    """Message templates, grouped by stage (E0xx io, E1xx ingest, E2xx pipeline, E3xx doccano, E4xx convert/evaluate, E5xx apply)."""

    E001 = "{path}: already exists; pass --force to overwrite it"
    E002 = "{path}:{line}: not valid JSON ({reason})"
    E003 = "{path}:{line}: invalid record: {reason}"
    E004 = "{path}: file not found"
    E005 = "{path}: invalid configuration: {reason}"
    E006 = "{path}: another zhner run is writing its outputs into this folder; wait for it to end, or pick another --out"
    E007 = "{path}: symbolic link loop ({reason}); point the link at a real file"
    E008 = "{path}: broken symbolic link to {target}, which does not exist"
    E009 = "{path}: a {kind}, not a regular file; only regular files are read (copy the content into a file)"
    E010 = "{path}:{line}: not UTF-8 ({reason}); save the file as UTF-8"
    E011 = "{path}: cannot {action} ({reason})"
    E101 = "{path}: empty file"
    E102 = "{path}: binary file, not text ({reason})"
    E103 = "{path}: cannot decode as UTF-8, GB18030 or Big5 ({reason})"
    E104 = "{path}: not Chinese text ({reason})"
    E105 = "{path}: no article body left after removing boilerplate"
    E106 = "{path}: no input files found"
    E107 = "{path}: file is {size} bytes, above the limit of {limit} bytes (raise ingest.max_file_bytes in the config)"
    E108 = "no article kept from {files} input files ({rejected} rejected, listed in {path}); see the reasons above"
    E201 = "cannot download {package} from the package index: {reason}"
    E202 = "{path}: corrupt download ({reason})"
    E203 = "{path}:{line}: not a PKU-tagged corpus line ({reason})"
    E204 = "pkuseg training failed ({reason}); log in {path}"
    E205 = "{model}: cannot load the spaCy pipeline ({reason})"
    E206 = "{path}: {reason}"
    E207 = "segment {segment}: offsets do not match the text ({reason})"
    E208 = "{path}: no gold segment of a {split!r} article of {splits}; the variant cannot be chosen on it"
    E209 = "{path}: gold of the {split!r} articles cannot choose the variant; the held-out test articles never choose anything (use 'dev')"
    E210 = "{path}:{line}: segment {segment}: {reason}; `zhner doccano push` would refuse its task, so no task is written{more}"
    E220 = "Baidu's LAC cannot be imported ({reason}); it is an optional extra: install it with `make lac`, or `pip install paddlepaddle==2.6.2 setuptools wheel` then `pip install --no-build-isolation lac==2.1.2`"
    E221 = "LAC's output does not fit the document: {reason}"
    E301 = "Doccano at {url} is not reachable ({reason}); start it with `zhner doccano serve`"
    E302 = "Doccano at {url} is not healthy: {reason}"
    E303 = "Doccano at {url} refused the credentials of user {username!r}"
    E304 = "Doccano request {method} {path} failed with HTTP {status}: {reason}"
    E305 = "Doccano task {task} failed: {reason}"
    E306 = "Doccano task {task} did not finish within {timeout} s"
    E307 = "Doccano is not installed in {venv}; run `zhner doccano install`"
    E308 = "{what} failed (exit code {exit_code}); see {log}"
    E309 = "Doccano did not become healthy within {timeout} s; see {log}"
    E310 = "{path}:{line}: segment {segment_id}: {reason}"
    E311 = "{path}:{line}: segment {segment_id} is already in project {project!r} with other text (sha1 {old} there, {new} here); give the changed segment a new id or delete it in Doccano first"
    E312 = "no Doccano project named {name!r} at {url}"
    E313 = "no Doccano credentials: set ZHNER_DOCCANO_USERNAME and ZHNER_DOCCANO_PASSWORD, or serve locally (the admin's are kept in {path})"
    E314 = "user {username!r} does not exist in Doccano at {url}; create it with `zhner doccano adduser`"
    E315 = "port {port} on {host} is already in use; pick another with --port"
    E316 = "Doccano project {name!r} is in {actual} mode, not {wanted}; pass the matching option or use another project name"
    E318 = "{path}: {reason}"
    E319 = "{path} belongs to uid {uid}, not to you: Doccano's home {home} holds the admin's token and must be yours alone; remove what others put there or pick another --home / DOCCANO_HOME"
    E320 = "the Doccano server recorded in {record} is not running ({detail}); no credentials were sent; start it with `zhner doccano serve`"
    E321 = "what answers at {url} is not the Doccano server zhner started from {home} ({reason}); no credentials were sent; stop whatever listens on that port, then `zhner doccano serve`"
    E322 = "{url} is not the local server recorded in {home}: the local admin's credentials are only sent to it; pass --username and --password for {url}"
    E323 = "Doccano project {name!r} is a single individual-mode project made by an older zhner (annotators got pre-annotations through its database); pull it as before, and push new segments under another project name (individual mode now gives each annotator a queue NAME@annotator)"
    E324 = "{what}: {reason}"
    E325 = "{path}: not an assignment file of zhner ({reason}); it is written by `zhner doccano push`: move it away or pass another --assignments"
    E326 = "Doccano's home {home} holds a SQLite database with data: starting it on {url} would leave that data behind; move it with `zhner doccano move-db --to URL` (or use another --home)"
    E327 = "moving Doccano's database: {reason}"
    E402 = "{path}: not a spaCy DocBin ({reason})"
    E403 = "{path}: no documents to evaluate"
    E404 = "--max-drop must be 0 or more, got {value}"
    E410 = "{path}:{line}: {reason}"
    E411 = "{path}:{line}: article {article_id!r} is not in {splits}; run `zhner ingest` on its article or add it there"
    E412 = "{path}: not a split file ({reason})"
    E413 = "--misaligned retokenize needs a pkuseg segmenter, but pipeline {model} segments with {segmenter!r}"
    E414 = "{paths}: no records to convert"
    E415 = "--misaligned {value!r}: choose one of {choices}"
    E430 = "{path}: not a rounds ledger ({reason}); `zhner next-batch` writes it: restore it, or pass another --ledger to start a new series of rounds"
    E431 = "{path}:{line}: segment {segment}: its article {article!r} is not in {splits}; run `zhner ingest` again so that segments and splits match"
    E432 = "{option} {value!r}: choose one of {choices}"
    E433 = "--strategy {strategy} ranks by the model's uncertainty, but {n} segments have no score (e.g. {example}): it needs a spaCy NER with a beam (`zhner preannotate --all-scores`); use --strategy random or diversity with this model"
    E434 = "no segment left to pick: {reason}"
    E435 = "{path}: no rounds yet; `zhner next-batch` picks the first"
    E420 = "{path}: {n} training documents; train-curve needs at least {need} (one per step)"
    E421 = "spaCy training on {percent}% of the documents failed: {reason}"
    E422 = "--gpu-id {gpu}: no usable GPU ({reason})"
    E501 = "{path}: written by another apply job ({reason}); run the same job again to resume it, or pass --force to start over (its shards are removed)"
    E502 = "{path}: not an output folder of `zhner apply` ({reason}); pick a new or empty --out"
    E503 = "{failed} of {total} shards failed, first: {first}; fix the input and run the same command again: only the failed shards are redone"
    E504 = "a worker applied {got}, not the pipeline this run loaded ({want}); every Dask worker must have the same model at the same path or package name"
    E505 = "cannot reach the Dask scheduler at {address} ({reason}); start one with `dask scheduler` or use --workers N for a local cluster"
    E506 = "Dask is not installed ({reason}); install the extra: pip install 'zhner[dask]'"
    E507 = "{option}: {reason}"


def printable(text: object) -> str:
    """`text` (a path, say) as a str that can be printed and written to JSON or msgpack.

    A file name that is not UTF-8 reaches Python with each bad byte as a lone surrogate
    (surrogateescape); such a str crashes every UTF-8 encoder. The byte becomes `\\xff` instead.
    """
    text = str(text)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(code: str, **fields: object) -> ZhnerError:
    """Build the ZhnerError for catalogue entry `code` with its fields filled in."""
    # paths and strings go through printable(): a message must never crash the printer or a JSON writer
    texts = (str, PurePath, BaseException)
    safe = {k: printable(v) if isinstance(v, texts) else v for k, v in fields.items()}
    return ZhnerError(code, getattr(Errors, code).format(**safe))
