"""configs/bootstrap.yml as data: every number that shapes models/zh_news_base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from zhner.config import Strict, config_path, load_model
from zhner.pipeline.silver import SilverRules
from zhner.pipeline.teacher import TeacherSettings

Log = Callable[[str], None]  # how the build stages report progress (the CLI passes msg.info)


class CorpusSettings(Strict):
    block: int = Field(20, gt=0)
    dev: float = Field(ge=0, lt=1)
    heldout: float = Field(ge=0, lt=1)
    seed: int
    limit: int | None = Field(None, description="use only the first N lines (tests)")


class PkusegSettings(Strict):
    iterations: int = Field(gt=0)


class NerSettings(Strict):
    config: str = "silver_ner.cfg"
    train_lines: int | None = Field(None, description="cap on training lines (None: the whole train split)")
    halfwidth_fraction: float = Field(0.5, ge=0, le=1)
    overrides: dict[str, Any] = Field(default_factory=dict)


class PatternSettings(Strict):
    use: Literal["auto", "always", "never"] = "auto"
    variants: list[str] = Field(default_factory=lambda: ["model", "patterns", "model+patterns", "patterns+model"])


class BootstrapConfig(Strict):
    """configs/bootstrap.yml."""

    name: str
    version: str
    seed: int
    corpus: CorpusSettings
    pkuseg: PkusegSettings
    ner: NerSettings
    patterns: PatternSettings = PatternSettings()
    silver: SilverRules
    teacher: TeacherSettings = TeacherSettings()


def load_bootstrap_config(path: Path | None = None) -> BootstrapConfig:
    return load_model(path or config_path("bootstrap.yml"), BootstrapConfig)
