# The README's two commands: `make all` (the main job on seeds/) and `make test`.
# Both set up everything they need on a fresh machine (package registries only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Baidu's LAC: the teacher that labels organisations and places when zh_news_base is built (make all), and
# an optional peer pipeline (`--model lac`) in the tests; never needed to run zh_news_base
LAC_STAMP := $(VENV)/.lac-installed
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt
# project.yml calls `zhner`: the venv's scripts must be on PATH even when it is not activated
RUN    := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m spacy project run
# The small run of CI (.ci/run): a small bootstrap and a short fine-tuning, in their own folders
# so it never mixes with the main job's outputs. Its scores are NOT the project's figures, and its
# dev-set comparison is reported, not gated (a 3,000-line base fine-tuned 300 steps says little).
SMALL_VARS := --vars.bootstrap_config configs/ci/bootstrap.yml --vars.base_model models/zh_news_small \
	--vars.corpus corpus/small --vars.project seeds-small --vars.silver_lines 2000 \
	--vars.train_max_steps 300 --vars.ner_model models/ner_small --vars.reports reports/small \
	--vars.dev_max_drop 1 --vars.train_config configs/ci/ner.cfg

.PHONY: all test setup lac doccano postgresql small-run clean-venv

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# LAC's sdist runs `import pkg_resources` in setup.py, which the newest setuptools no longer has: it is
# built with the venv's own (pinned) setuptools and wheel, hence --no-build-isolation, after PaddlePaddle
$(LAC_STAMP): $(STAMP) requirements/constraints.txt
	$(PIP) paddlepaddle setuptools wheel
	$(PIP) --no-build-isolation lac
	touch $(LAC_STAMP)

lac: $(LAC_STAMP)

# Doccano in its own pinned environment (.doccano/venv), with the PostgreSQL driver; idempotent
doccano: setup
	$(BIN)/zhner doccano install --postgresql

# Debian's PostgreSQL server binaries: the Doccano tests on PostgreSQL start their own server with
# them on 127.0.0.1 (a free port, a temporary folder); nothing is configured system-wide
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

all: setup lac doccano
	@start=$$(date +%s); $(RUN) all; status=$$?; \
	echo "make all: $$(( $$(date +%s) - start )) s, exit code $$status"; exit $$status

small-run: setup doccano
	@start=$$(date +%s); $(RUN) all . $(SMALL_VARS); status=$$?; \
	echo "small run: $$(( $$(date +%s) - start )) s, exit code $$status"; exit $$status

test: setup lac doccano postgresql
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
