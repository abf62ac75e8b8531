"""Catalogued errors: library code raises ZhnerError, only the CLI turns it into an exit code.

Each message has a code (E0xx) so that a line in a CI log can be searched for.
"""

from __future__ import annotations


class ZhnerError(Exception):
    """A problem the user can fix; `str(err)` is a complete one-line message."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"[{code}] {message}")


class Errors:
    """Message templates, grouped by stage (E0xx io, E1xx ingest, E2xx pipeline, E3xx doccano, E4xx convert/evaluate)."""

    E001 = "{path}: already exists; pass --force to overwrite it"
    E002 = "{path}:{line}: not valid JSON ({reason})"
    E003 = "{path}:{line}: invalid record: {reason}"
    E004 = "{path}: file not found"
    E005 = "{path}: invalid configuration: {reason}"
    E101 = "{path}: empty file"
    E102 = "{path}: binary file, not text ({reason})"
    E103 = "{path}: cannot decode as UTF-8, GB18030 or Big5 ({reason})"
    E104 = "{path}: not Chinese text ({reason})"
    E105 = "{path}: no article body left after removing boilerplate"
    E106 = "{path}: no input files found"
    E107 = "{path}: file is {size} bytes, above the limit of {limit} bytes (raise ingest.max_file_bytes in the config)"
    E201 = "cannot download {package} from the package index: {reason}"
    E202 = "{path}: corrupt download ({reason})"
    E203 = "{path}:{line}: not a PKU-tagged corpus line ({reason})"
    E204 = "pkuseg training failed ({reason}); log in {path}"
    E205 = "{model}: cannot load the spaCy pipeline ({reason})"
    E206 = "{path}: {reason}"


def fail(code: str, **fields: object) -> ZhnerError:
    """Build the ZhnerError for catalogue entry `code` with its fields filled in."""
    return ZhnerError(code, getattr(Errors, code).format(**fields))
