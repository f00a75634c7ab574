# Every target creates .venv and installs what it needs when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: test demo bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check modelmesh langchain_modelmesh tests benchmarks

demo: $(STAMP)
	$(BIN)/modelmesh demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check modelmesh langchain_modelmesh tests benchmarks
	$(BIN)/ruff format --check modelmesh langchain_modelmesh tests benchmarks

clean:
	rm -rf $(VENV)
