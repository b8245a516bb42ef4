# One obvious entry point each. Everything runs in .venv, created on first use: `make demo` installs
# what the demo needs (gerhard, torch's CPU build, a notebook kernel); test, lint and bench add the
# dev extras. Both steps reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch's CPU build, never the CUDA one (about 4 GB more of nvidia-* packages). On these machines it is a
# local wheel that pip finds; elsewhere make it reachable (PIP_FIND_LINKS=a folder holding it, or
# PIP_EXTRA_INDEX_URL=PyTorch's CPU index), or on macOS, whose torch has no CUDA: TORCH=torch==2.13.0.
TORCH ?= torch==2.13.0+cpu
# The extras that test, lint and bench install (CI may add some: EXTRAS=dev,lightning).
EXTRAS ?= dev
# make test runs on every core (pytest-xdist); the tests of a file with a module-scoped set-up stay on
# one worker, so that it is made once (tests/conftest.py's scheduler). PYTEST_ARGS adds options:
# PYTEST_ARGS='-n 0 -x' runs in one process.
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

# A pinned CPU build (+cpu) cannot pull CUDA; any other TORCH is checked first: pip's plan is read
# before anything is downloaded. After every install, torch.version.cuda and the nvidia-* packages are
# checked. Either stops make with what to do.
define REFUSE_CUDA_PLAN
import json, sys
plan = [p["metadata"] for p in json.load(open(sys.argv[1]))["install"]]
cuda = [p["name"] + " " + p["version"] for p in plan if p["name"].lower().startswith("nvidia")]
if cuda:
    sys.exit("make: pip would install torch's CUDA build (" + ", ".join(cuda[:3]) + ", ...), several GB. "
             "Make torch's CPU build reachable (see TORCH in the Makefile), then run make again.")
endef
define CHECK_CPU_TORCH
import importlib.metadata as md, sys
import torch
nvidia = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia"))
if torch.version.cuda is not None or nvidia:
    sys.exit("make: .venv holds torch's CUDA build (torch " + torch.__version__ + ", CUDA "
             + str(torch.version.cuda) + "; " + " ".join(nvidia[:3]) + "), not the CPU one. "
             "Run make clean, make torch's CPU build reachable (see TORCH in the Makefile), run make again.")
endef
export REFUSE_CUDA_PLAN CHECK_CPU_TORCH
# Installs are --no-compile: compiling every module of torch, sympy, transformers, ... cost CPU time
# at install and 360 MB of .venv, for modules nothing imports. What gerhard, the demo and the tests'
# subprocesses import is compiled once instead, by importing it (bytecode writing on, even where
# PYTHONDONTWRITEBYTECODE is set), and what else a test imports is compiled when it is imported.
WARM_DEMO := import torch, numpy, matplotlib.pyplot, matplotlib.backends.backend_agg, jsonschema, ruamel.yaml, \
  jinja2, fsspec, filelock, tqdm, nbclient, nbformat, ipykernel.kernelapp, jupyter_client
WARM_DEV := import pytest, xdist, hypothesis, s3fs, flask, moto
COMPILING := env -u PYTHONDONTWRITEBYTECODE

$(VENV)/.demo: pyproject.toml
	rm -f $(VENV)/.installed
	$(PYTHON) -m venv $(VENV)
	case '$(TORCH)' in *+cpu) ;; *) \
	  $(PY) -m pip install -q --dry-run --report $(VENV)/torch-plan.json '$(TORCH)' || exit 1; \
	  $(PY) -c "$$REFUSE_CUDA_PLAN" $(VENV)/torch-plan.json || exit 1 ;; esac
	$(PY) -m pip install -q --no-compile '$(TORCH)' \
	  || { echo "make: pip found no '$(TORCH)' (torch's CPU build): see TORCH in the Makefile" >&2; exit 1; }
	$(PY) -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' > $(VENV)/constraints.txt
	$(PY) -m pip install -q --no-compile -c $(VENV)/constraints.txt -e '.[torch,notebook]'
	$(COMPILING) $(PY) -c "$$CHECK_CPU_TORCH"
	$(COMPILING) $(PY) -c '$(WARM_DEMO)'
	touch $@

$(VENV)/.installed: $(VENV)/.demo
	$(PY) -m pip install -q --no-compile -c $(VENV)/constraints.txt -e '.[$(EXTRAS)]'
	$(COMPILING) $(PY) -c "$$CHECK_CPU_TORCH"
	$(COMPILING) $(PY) -c '$(WARM_DEV)'
	touch $@

demo: $(VENV)/.demo
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest -q -n auto $(PYTEST_ARGS) tests

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
	$(PY) benchmarks/bench_pull_requests.py

clean:
	rm -rf $(VENV) demo benchmarks/.work
