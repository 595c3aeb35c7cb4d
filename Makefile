# The commands the README documents. Everything runs from the project's own virtualenv.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint demo bench

setup: $(BIN)/sutra

$(BIN)/sutra: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

demo: setup
	$(BIN)/sutra chat examples/ask_gpt.json

bench: setup
	$(BIN)/python bench/engine.py
