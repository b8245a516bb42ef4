# One obvious entry point each. Everything runs in .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gerhard tests benchmarks examples
	$(VENV)/bin/ruff format --check gerhard tests benchmarks examples
	$(VENV)/bin/mypy gerhard

bench: $(VENV)/.installed
	$(PY) benchmarks/run.py
	$(PY) benchmarks/bench_dossier.py
	$(PY) benchmarks/compare.py
	$(PY) benchmarks/bench_team.py
	$(PY) benchmarks/bench_hooks.py
	$(PY) benchmarks/bench_log.py
	$(PY) benchmarks/bench_capture.py
	$(PY) benchmarks/bench_sync.py
	$(PY) benchmarks/bench_site.py

clean:
	rm -rf $(VENV) demo benchmarks/.work
