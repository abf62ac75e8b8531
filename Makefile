# The README's two commands: `make all` (the main job on seeds/) and `make test`.
# Both set up everything they need on a fresh machine (package registries only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all test setup clean-venv

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

all: setup
	$(BIN)/python -m spacy project run all

test: setup
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
