# The project's commands. `make test` and `make demo` work on a fresh clone with only Python >= 3.11 and pip:
# the first run creates .venv and installs the project with its dev extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint format clean

$(STAMP): pyproject.toml plugins/example-package/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("broker-sim needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	@# pip's and the build backend's notes go to a log, shown only if the install fails.
	@echo "installing broker-sim and its dev extras into $(VENV) (log: $(VENV)/install.log) ..."
	@$(PY) -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(PY) -m pip install --quiet -e '.[dev]' -e ./plugins/example-package >> $(VENV)/install.log 2>&1 \
		|| (cat $(VENV)/install.log; exit 1)
	touch $(STAMP)

# The suite runs on every core (pytest-xdist); `make test JOBS=0` runs it in one process.
JOBS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS)

demo: $(STAMP)
	$(VENV)/bin/broker-sim run configs/demo.yaml

bench: $(STAMP)
	$(PY) benchmarks/core.py
	$(PY) benchmarks/replay.py
	$(PY) benchmarks/sweep.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
