# The single entry for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: help check doctest dev demo test test-nightly test-latest lock unit integration infra-tests parity lint bench bench-full bench-serve synth deploy diff clean
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

help:
	@echo "make demo         install what the demo needs and run it (embedded moto server)"
	@echo "make check        lint, doctests and the whole suite: what CI runs"
	@echo "make test         install everything and run the whole test suite (CI's profile)"
	@echo "make test-nightly the reliability suite's long profiles: 20x the histories and schedules (nightly)"
	@echo "make lock         refresh requirements/*.lock (newest allowed versions, with hashes)"
	@echo "make test-latest  the suite on the newest versions pyproject.toml allows, in .venv-latest (weekly)"
	@echo "make unit | integration | infra-tests | parity   one part of the suite"
	@echo "make lint         ruff on every Python file, mypy --strict on the code and the tests' support code"
	@echo "make doctest      the examples in the package's docstrings"
	@echo "make bench        the cost benchmarks (counts and ratios); the training side up to 100k records"
	@echo "make bench-full   the cost benchmarks with the training side at 1M records (its budgets)"
	@echo "make bench-serve  a consentry serve's memory over 20 dry-run sweeps, and its stop after SIGINT"
	@echo "make synth        synthesize the CDK app (no Docker, no credentials)"
	@echo "make deploy|diff  the CDK app against the current AWS account (CDK_ARGS='-c key=value ...')"

# Installs come from the locks: every dependency pinned, every file checked against its hash; then the
# project itself, with no dependency of its own resolved.
$(VENV)/.local: pyproject.toml requirements/local.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r requirements/local.lock
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r requirements/dev.lock
	$(PIP) install --no-deps -e .
	touch $(VENV)/.local $@

COMPILE = $(PY) -m piptools compile -q --upgrade --generate-hashes --strip-extras --unsafe-package consentry \
	--no-emit-index-url --no-emit-find-links

lock: dev
	$(COMPILE) --extra local -o requirements/local.lock pyproject.toml
	$(COMPILE) --extra dev --extra infra -o requirements/dev.lock pyproject.toml

LATEST ?= .venv-latest

test-latest:
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip --disable-pip-version-check -q install --upgrade -e ".[dev,infra]"
	$(LATEST)/bin/python -m pip --disable-pip-version-check list --format=freeze | grep -v '^-e' > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -n auto --dist worksteal

dev: $(VENV)/.dev

demo: $(VENV)/.local
	$(VENV)/bin/consentry demo

test: dev
	$(PY) -m pytest -n auto --dist worksteal

# The same suite with the long profiles of the generated histories (HYPOTHESIS_PROFILE) and of the side-by-side
# schedules (CONSENTRY_EXPLORE): twenty times as many, the nightly-only exhaustive pairs too.
test-nightly: dev
	HYPOTHESIS_PROFILE=nightly CONSENTRY_EXPLORE=nightly $(PY) -m pytest -n auto --dist worksteal

unit: dev
	$(PY) -m pytest tests/unit

integration: dev
	$(PY) -m pytest tests/integration

infra-tests: dev
	$(PY) -m pytest tests/infrastructure

parity: dev
	$(PY) -m pytest tests/parity

# The tests' support code: every module under tests/ that is not a test module (conftest files aside,
# which share one module name and hold fixtures).
SUPPORT = $(filter-out %/conftest.py,$(shell ls tests/*/*.py | grep -v '/test_')) tests/conftest.py tests/support.py tests/summaries.py tests/fastmoto.py

lint: dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check shared functions infra tests benchmarks
	$(PY) -m mypy shared
	for f in functions/*/app.py; do $(PY) -m mypy $$f || exit 1; done
	MYPYPATH=shared $(PY) -m mypy --strict infra tests/infrastructure
	MYPYPATH=shared:tests $(PY) -m mypy --strict $(SUPPORT)

doctest: dev
	$(PY) -m pytest -p no:xdist --doctest-modules shared/consentry

check: lint doctest test

bench: dev
	$(PY) -m benchmarks

bench-full: dev
	$(PY) -m benchmarks --training-1m

bench-serve: dev
	$(PY) -m benchmarks.server memory

synth: dev
	$(PY) infra/app.py

deploy: dev
	npx aws-cdk@2 deploy --app "$(PY) infra/app.py" $(CDK_ARGS)

diff: dev
	npx aws-cdk@2 diff --app "$(PY) infra/app.py" $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
