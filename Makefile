# The single entry for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: help dev demo test unit integration infra-tests lint bench synth clean

help:
	@echo "make demo         install what the demo needs and run it (embedded moto server)"
	@echo "make test         install everything and run the whole test suite"
	@echo "make unit | integration | infra-tests   one part of the suite"
	@echo "make lint         ruff and mypy --strict on shared/ and functions/"
	@echo "make bench        the cost benchmarks (counts and ratios)"
	@echo "make synth        synthesize the CDK app (no Docker, no credentials)"

$(VENV)/.local: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[local]"
	touch $@

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[dev,infra]"
	touch $(VENV)/.local $@

dev: $(VENV)/.dev

demo: $(VENV)/.local
	$(VENV)/bin/consentry demo

test: dev
	$(PY) -m pytest

unit: dev
	$(PY) -m pytest tests/unit

integration: dev
	$(PY) -m pytest tests/integration

infra-tests: dev
	$(PY) -m pytest tests/infrastructure

lint: dev
	$(PY) -m ruff check shared functions tests
	$(PY) -m ruff format --check shared functions
	$(PY) -m mypy shared
	for f in functions/*/app.py; do $(PY) -m mypy $$f || exit 1; done

bench: dev
	$(PY) -m benchmarks

synth: dev
	$(PY) infra/app.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
