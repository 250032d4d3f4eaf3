# The single entry for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: help dev demo test unit integration infra-tests parity lint bench synth deploy diff clean
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

help:
	@echo "make demo         install what the demo needs and run it (embedded moto server)"
	@echo "make test         install everything and run the whole test suite"
	@echo "make unit | integration | infra-tests | parity   one part of the suite"
	@echo "make lint         ruff and mypy --strict on shared/ and functions/"
	@echo "make bench        the cost benchmarks (counts and ratios)"
	@echo "make synth        synthesize the CDK app (no Docker, no credentials)"
	@echo "make deploy|diff  the CDK app against the current AWS account (CDK_ARGS='-c key=value ...')"

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
	$(PY) -m pytest -n auto --dist worksteal

unit: dev
	$(PY) -m pytest tests/unit

integration: dev
	$(PY) -m pytest tests/integration

infra-tests: dev
	$(PY) -m pytest tests/infrastructure

parity: dev
	$(PY) -m pytest tests/parity

lint: dev
	$(PY) -m ruff check shared functions infra tests
	$(PY) -m ruff format --check shared functions infra tests/infrastructure
	$(PY) -m mypy shared
	for f in functions/*/app.py; do $(PY) -m mypy $$f || exit 1; done
	MYPYPATH=shared $(PY) -m mypy --strict infra tests/infrastructure

bench: dev
	$(PY) -m benchmarks

synth: dev
	$(PY) infra/app.py

deploy: dev
	npx aws-cdk@2 deploy --app "$(PY) infra/app.py" $(CDK_ARGS)

diff: dev
	npx aws-cdk@2 diff --app "$(PY) infra/app.py" $(CDK_ARGS)

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
