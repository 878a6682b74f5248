# Berth's two commands (see README): `make up` runs the main job on the embedded AWS emulator,
# `make test` runs every test. Both set up what they need first, from the lock files.

PYTHON ?= python3
PIPENV := $(PYTHON) -m pipenv
PIPENV_VERSION := 2026.10.3
# Tests run in parallel; 2 workers fit the 2-core machines this project targets.
TEST_WORKERS ?= 2
# `make bench` runs each of these in turn; `make bench BENCH=bench/synth_bench.py` runs one.
BENCH ?= $(sort $(wildcard bench/*_bench.py))

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_NOSPIN := 1
export PIPENV_YES := 1
export CHECKPOINT_DISABLE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup up test lint bench clean

setup: .venv/.synced node_modules/.installed .tools/checkov/.installed

.tools/pipenv.installed:
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	@# cdktf.json runs `pipenv run ...`: under pyenv the new command needs its shim.
	@command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
	@mkdir -p .tools && touch $@

.venv/.synced: Pipfile.lock .tools/pipenv.installed
	$(PIPENV) sync --dev
	@touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.tools/checkov/.installed: tools/checkov-requirements.txt
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check -r tools/checkov-requirements.txt
	@touch $@

up: setup
	$(PIPENV) run berth up

lint: .venv/.synced
	$(PIPENV) run ruff check .
	$(PIPENV) run ruff format --check .
	$(PIPENV) run mypy

test: setup lint
	$(PIPENV) run pytest -n $(TEST_WORKERS) --dist loadgroup

# Every benchmark prints its own table; one that fails does not stop the others, but fails the run.
bench: setup
	@failed=""; for script in $(BENCH); do \
		echo "== $$script"; \
		$(PIPENV) run python $$script || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench: failed:$$failed" >&2; exit 1; fi

clean:
	rm -rf cdktf.out .berth .pytest_cache .mypy_cache .ruff_cache
