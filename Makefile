# babelcart — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint bench benchmarks-doc serve clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# torch==2.13.0 first (a CPU file on these machines): anything that pulls a plain `torch` gets a CUDA build.
$(VENV)/.full: $(VENV)/.core
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,train,hf,onnx,serve,ray,postgres]'
	touch $@

demo: $(VENV)/.core
	$(VENV)/bin/babelcart demo

test: $(VENV)/.full
	$(PY) -m pytest -q

lint: $(VENV)/.full
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.full
	for b in benchmarks/[!_]*.py; do $(PY) $$b || exit 1; done
	$(PYTHON) benchmarks/_report.py

# docs/benchmarks.md from benchmarks/results/*.json (standard library only; a test checks it is up to date)
benchmarks-doc:
	$(PYTHON) benchmarks/_report.py

serve: $(VENV)/.full
	$(VENV)/bin/babelcart serve --demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
