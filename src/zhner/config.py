"""Configuration as data: files under configs/, validated on load."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhner.errors import fail

_REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def configs_dir() -> Path:
    """Where the embedded defaults live: $ZHNER_CONFIGS, ./configs, or the repository's configs/."""
    if env := os.environ.get("ZHNER_CONFIGS"):
        return Path(env)
    if (Path.cwd() / "configs" / "labels.yml").exists():
        return Path.cwd() / "configs"
    return _REPO_CONFIGS


def config_path(name: str) -> Path:
    return configs_dir() / name


def load_yaml(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise fail("E004", path=path)
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise fail("E005", path=path, reason=str(err).replace("\n", " ")) from None


def load_model(path: Path, model: type[BaseModel], key: str | None = None) -> Any:
    """Load a YAML file (or one top-level key of it) into a pydantic model, naming the bad field."""
    data = load_yaml(path)
    if key is not None:
        data = (data or {}).get(key, {})
    try:
        return model.model_validate(data or {})
    except ValidationError as err:
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise fail("E005", path=path, reason=reason) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelDef(Strict):
    description: str
    description_zh: str | None = None
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    text_color: str = Field("#ffffff", pattern=r"^#[0-9a-fA-F]{6}$")
    shortcut: str | None = None
    examples: list[str] = Field(default_factory=list)
    counter_examples: list[str] = Field(default_factory=list)


class LabelScheme(Strict):
    """configs/labels.yml: the label set and how other tag sets map onto it."""

    labels: dict[str, LabelDef]
    mappings: dict[str, dict[str, str | None]] = Field(
        default_factory=dict, description="per foreign scheme: foreign label → our label (null drops it)"
    )

    def map_label(self, scheme: str, label: str) -> str | None:
        """Map a foreign label; labels of our own scheme pass through, unknown ones are dropped."""
        if label in self.labels:
            return label
        return self.mappings.get(scheme, {}).get(label)


def load_labels(path: Path | None = None) -> LabelScheme:
    return load_model(path or config_path("labels.yml"), LabelScheme)


def label_names() -> tuple[str, ...]:
    """The labels of configs/labels.yml, in its order: the one label list of zhner."""
    return _label_names(config_path("labels.yml"))


@functools.cache
def _label_names(path: Path) -> tuple[str, ...]:
    return tuple(load_labels(path).labels)
