# Two commands on a fresh machine: `make run` (serve with the seeds loaded) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test test-fast bench bench-quick soak crash-test eval lock clean chromium redis image image-test

install: $(STAMP)

# torch goes in first, alone and exact: 2.13.0 is the CPU wheel on disk; anything else may pull CUDA.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: install
	$(BIN)/memo serve

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not model and not server and not browser and not quality and not llm"

# Debian's Chromium for the browser test (Playwright drives it; it never downloads a browser).
# Installs only when missing; needs root (CI runs as root). Without it the browser test skips, except under CI=true.
chromium:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core >/dev/null && /usr/bin/chromium --version; \
	else echo "chromium is missing: run 'sudo make chromium' (or apt-get install chromium) for the browser test"; fi

# Debian's redis-server for the worker tier's tests. The tests use a Redis on 127.0.0.1:6379 when one answers,
# else start this binary on a free port; under CI=true a missing Redis fails them. Installs only when missing.
redis:
	@if command -v redis-server >/dev/null; then echo "redis-server: $$(redis-server --version)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    redis-server >/dev/null && redis-server --version; \
	else echo "redis-server is missing: run 'sudo make redis' (or apt-get install redis-server) for the worker tests"; fi

# Dev tooling in bench/ (not shipped): the full benchmark, its one-minute smoke run, the soak and crash trials.
bench: install
	$(BIN)/python -m bench --out bench-results/bench.json

bench-quick: install
	$(BIN)/python -m bench --quick

soak: install
	$(BIN)/python scripts/soak.py

crash-test: install
	$(BIN)/python scripts/crash_test.py

# The dev sets of ../shared/eval through `memo eval` (figures in the README's Quality table).
EVAL ?= ../shared/eval
eval: install
	mkdir -p bench-results
	$(BIN)/memo eval retrieval $(EVAL)/retrieval/xquad_dev --json bench-results/eval-xquad-retrieval.json
	$(BIN)/memo eval qa $(EVAL)/qa_xquad_dev.jsonl --json bench-results/eval-qa.json
	$(BIN)/memo eval summarise $(EVAL)/summ_cnndm_dev.jsonl --json bench-results/eval-cnndm.json
	$(BIN)/memo eval retrieval $(EVAL)/retrieval/cranfield --json bench-results/eval-cranfield.json

# Re-resolve requirements.in into exact pins, in a throw-away venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet torch==2.13.0
	.lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Exact pins of requirements.in and everything it pulls in, for Python 3.11 on x86_64 CPU."; \
	  echo "# Regenerate with 'make lock'. torch is installed first by the Makefile (see requirements.in)."; \
	  echo "torch==2.13.0"; .lock-venv/bin/pip freeze | grep -v -i -e '^torch==' -e '^memo-service'; } > requirements.txt
	rm -rf .lock-venv

# The container image memo-service:latest (docs/deployment.md): docker build where a Docker engine runs, else
# buildah with a base made here when none can be pulled (scripts/image.sh). image-test builds it, then runs it.
image:
	scripts/image.sh

image-test: image install
	$(BIN)/python -m pytest -m image -p no:cacheprovider tests/test_image.py

clean:
	rm -rf $(VENV) .pytest_cache
