"""Round-trip fidelity: 10,000 segments with astral, CRLF, full-width and combining characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from doccano_helpers import LocalServer, write_tasks
from zhner.demo.tasks import HARD, hard_tasks
from zhner.doccano.mapping import grapheme_risk
from zhner.doccano.sync import pull, push
from zhner.io import read_jsonl
from zhner.schemas import Task

pytest_plugins = ["doccano_fixtures"]


@pytest.mark.doccano
@pytest.mark.slow
def test_10000_segments_come_back_byte_identical(doccano: LocalServer, tmp_path: Path) -> None:
    tasks = hard_tasks(10000)
    assert all(any(h in t.text for t in tasks) for h in HARD)  # every hard character is exercised
    assert sum(grapheme_risk(t.text) for t in tasks) > 1000
    path = write_tasks(tmp_path / "fidelity.jsonl", tasks)
    assert push(tasks_path=path, project="fidelity", conn=doccano.conn()).uploaded == 10000
    result = pull(project="fidelity", conn=doccano.conn(), out_dir=tmp_path / "out")
    assert result.rejected == [] and result.records == 10000
    back = {t.meta.segment_id: t for t in read_jsonl(result.path, Task)}
    # compare with the file as zhner reads it (zhner.io parses floats through srsly/ujson)
    sent = {t.meta.segment_id: t for t in read_jsonl(path, Task)}
    assert back.keys() == sent.keys()

    def surfaces(t: Task) -> list[tuple[int, int, str, bytes]]:
        return [(s, e, lab, t.text[s:e].encode("utf-8")) for s, e, lab in t.label]

    identical = sum(
        back[k].text.encode("utf-8") == sent[k].text.encode("utf-8") and surfaces(back[k]) == surfaces(sent[k])
        and back[k].meta.spans == sent[k].meta.spans
        for k in sent
    )  # fmt: skip
    assert identical == 10000
    assert sum(len(t.label) for t in back.values()) == sum(len(t.label) for t in tasks)
