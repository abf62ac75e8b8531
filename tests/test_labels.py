"""configs/labels.yml: the label scheme loads, is complete, and its mappings land on known labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhner.config import label_names, load_labels
from zhner.errors import ZhnerError
from zhner.pipeline.patterns import match_patterns

LABELS = label_names()


@pytest.fixture(scope="module")
def scheme():
    return load_labels()


def test_scheme_has_exactly_the_five_labels(scheme) -> None:
    assert tuple(scheme.labels) == LABELS


def test_every_label_is_documented_for_annotators(scheme) -> None:
    colours = [d.color.lower() for d in scheme.labels.values()]
    shortcuts = [d.shortcut for d in scheme.labels.values()]
    assert len(set(colours)) == len(colours), "two labels share a Doccano colour"
    assert len(set(shortcuts)) == len(shortcuts), "two labels share a Doccano shortcut"
    for name, label in scheme.labels.items():
        assert label.description and label.description_zh, name
        assert len(label.examples) >= 3 and label.counter_examples, name


def test_every_mapping_targets_a_known_label_or_drops(scheme) -> None:
    assert {"ontonotes", "msra", "pku"} <= set(scheme.mappings)
    for table in scheme.mappings.values():
        assert all(target is None or target in LABELS for target in table.values())


def test_ontonotes_money_percent_cardinal_become_quantity_and_person_is_dropped(scheme) -> None:
    assert [scheme.map_label("ontonotes", t) for t in ("MONEY", "PERCENT", "CARDINAL", "FAC")] == [
        "QUANTITY", "QUANTITY", "QUANTITY", "LOC"]
    assert scheme.map_label("ontonotes", "PERSON") is None
    assert scheme.map_label("pku", "nt") == "ORG"
    assert scheme.map_label("pku", "m+q") == "QUANTITY"


@pytest.mark.parametrize("label", LABELS)
def test_the_pattern_layer_agrees_with_the_examples(scheme, label: str) -> None:
    """Each example, alone in a sentence, gets its label from the patterns (the guidelines and rules agree)."""
    missed = []
    for example in scheme.labels[label].examples:
        text = f"据悉，{example}。"
        found = {text[s.start : s.end]: s.label for s in match_patterns(text)}
        if found.get(example) != label:
            missed.append((example, found))
    assert len(missed) <= 1, missed  # open-ended names (朵森格路) are left to the model


def test_a_colour_that_is_not_hex_is_refused_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "labels.yml"
    bad.write_text("labels:\n  ORG:\n    description: x\n    color: blue\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"labels\.yml.*labels\.ORG\.color"):
        load_labels(bad)
