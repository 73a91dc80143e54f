# The project's commands. `make test` and `make demo` work on a fresh clone with only Python >= 3.11 and pip:
# the first run creates .venv and installs the project with its dev extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip without the parts a throwaway test environment never uses: no byte-compiling of every installed module
# (Python compiles what a run imports, once), no version check.
PIP_INSTALL := -m pip install --quiet --no-compile --disable-pip-version-check

.PHONY: test test-newer test-slow demo bench lint format clean clients clients-slow compiled test-compiled bench-compiled wheel-compiled

# Real Alpaca clients the serve tests drive (tests/serve/test_real_clients.py), each in its own environment under
# $(VENV)/clients (their pins conflict with ours): the versions the README's serve table names.
CLIENTS := $(VENV)/clients
ALPACA_TRADE_API := 3.2.0
ALPACA_JS_3 := 3.1.3
ALPACA_JS_4 := 4.0.2
LUMIBOT := 4.6.30

# The project's ~130 packages are installed by uv (pip-installed into the venv first: a ~20 MB wheel), which
# fetches and unpacks them in parallel: ~30 s on a fresh machine where pip alone takes ~2 min. uv resolves the same
# versions (it reads PyPI, not pip's config: set UV_INDEX_URL for a mirror); should uv fail, pip installs them.
PROJECT := -e '.[dev]' -e ./plugins/example-package

$(STAMP): pyproject.toml plugins/example-package/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("broker-sim needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	@# The installers' and the build backend's notes go to a log, shown only if the install fails.
	@echo "installing broker-sim and its dev extras into $(VENV) (log: $(VENV)/install.log) ..."
	@( $(PY) $(PIP_INSTALL) uv && $(VENV)/bin/uv pip install --quiet --python $(PY) $(PROJECT) \
		|| $(PY) $(PIP_INSTALL) $(PROJECT) ) > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	touch $(STAMP)

# The client environments need nothing of the project's: `make test` installs them side by side with it.
$(CLIENTS)/alpaca-trade-api/.installed:
	$(PYTHON) -m venv $(CLIENTS)/alpaca-trade-api
	$(CLIENTS)/alpaca-trade-api/bin/python $(PIP_INSTALL) 'alpaca-trade-api==$(ALPACA_TRADE_API)'
	touch $@

$(CLIENTS)/lumibot/.installed:
	$(PYTHON) -m venv $(CLIENTS)/lumibot
	$(CLIENTS)/lumibot/bin/python $(PIP_INSTALL) 'lumibot==$(LUMIBOT)'
	touch $@

# Both lines of the JS SDK side by side (npm aliases); without node the JS tests skip, saying so.
$(CLIENTS)/node/.installed:
	if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(CLIENTS)/node && \
		npm install --prefix $(CLIENTS)/node --no-audit --no-fund --loglevel=error \
			alpaca3@npm:@alpacahq/alpaca-trade-api@$(ALPACA_JS_3) alpaca4@npm:@alpacahq/alpaca-trade-api@$(ALPACA_JS_4) && \
		touch $@; \
	else echo "npm is not installed: the JS SDK tests will be skipped"; fi

# `make test` sets up the small clients (about 30 s the first time); lumibot (a 2.5 GB, ten-minute install) is
# set up by `make test-slow`, which runs its test with the long loops (`pytest --slow`).
clients: $(CLIENTS)/alpaca-trade-api/.installed $(CLIENTS)/node/.installed
clients-slow: clients $(CLIENTS)/lumibot/.installed

# The suite runs on every core (pytest-xdist); `make test JOBS=0` runs it in one process. tests/needs_compiler
# (tests that build C with mypyc) is left out: CI runs it where a C compiler is (.ci/run). The environments it
# needs are set up in parallel first (-j: the project's and each client's at once; -O: each one's output whole).
JOBS ?= auto
SETUP_JOBS ?= 3
# The suite starts many Python processes (xdist's workers, each CLI run, schemathesis, the notebook's kernel, Ray's
# workers): each compiles what it imports unless the bytecode is cached. With PYTHONDONTWRITEBYTECODE set (as on
# some CI machines) nothing is cached and every process compiles again (~10 s of CPU for an xdist worker's
# collection alone), so the suite caches it under $(VENV)/pycache: nothing beside the sources, `make clean` removes it.
PYTEST := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache $(PY) -m pytest
test:
	@$(MAKE) --no-print-directory -j$(SETUP_JOBS) -Otarget $(STAMP) clients
	$(PYTEST) -q -n $(JOBS) --ignore=tests/needs_compiler

# The suite on a newer Python (3.12+ starts a handler's task eagerly, so a run's dispatch takes the other path of
# broker_sim/run/dispatch.py, which `make test` on 3.11 never runs): `make test-newer` sets up $(NEWER_VENV) with
# $(NEWER_PYTHON) as `make test` sets up .venv, then runs NEWER_TESTS there (the whole suite by default). CI runs
# the run's tests so when python3.12 is installed (.ci/run).
NEWER_PYTHON ?= python3.12
NEWER_VENV ?= .venv-newer
NEWER_TESTS ?=
test-newer:
	@$(MAKE) --no-print-directory PYTHON=$(NEWER_PYTHON) VENV=$(NEWER_VENV) $(NEWER_VENV)/.installed
	env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(abspath $(NEWER_VENV))/pycache $(NEWER_VENV)/bin/python \
		-m pytest -q -n $(JOBS) $(NEWER_TESTS)

test-slow:
	@$(MAKE) --no-print-directory -j$(SETUP_JOBS) -Otarget $(STAMP) clients-slow
	$(PYTEST) -q -n $(JOBS) --slow

demo: $(STAMP)
	$(VENV)/bin/broker-sim run configs/demo.yaml

# The replay, the storm and the memory benchmarks run on the pure package and on the compiled build (below), and
# benchmarks/targets.py ends with issue 25's targets as a table for both.
bench: $(STAMP) compiled
	$(PY) benchmarks/core.py
	$(PY) benchmarks/sweep.py
	$(PY) benchmarks/targets.py

# Optional compiled speed-ups (issue 25): the modules listed under [tool.broker-sim.compiled] in pyproject.toml,
# compiled by mypyc (installed with the dev extras) into $(COMPILED), a copy of the package; broker_sim/ stays pure
# Python, and is what `make test`, `make demo` and an editable install run. A process runs the compiled copy when
# $(COMPILED) comes first on its path: `make test-compiled` runs the suite so (PYTHONSAFEPATH keeps the checkout's
# own broker_sim/ off the path; tests/conftest.py checks the compiled modules are the ones loaded), and
# `make bench-compiled` the order and replay benchmarks. A build takes about two and a half minutes.
COMPILED := build/compiled
COMPILED_MODULES = $(shell $(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['broker-sim']['compiled']['modules']))")
COMPILED_ENV := env -u PYTHONDONTWRITEBYTECODE PYTHONSAFEPATH=1 PYTHONPATH=$(abspath $(COMPILED)):$(abspath .) BROKER_SIM_COMPILED=$(abspath $(COMPILED))

# Rebuilt when any file of the package changes (templates too: the copy carries them) or one is added or removed
# (the folders' times); the stamp is taken before the copy, so a file saved during the build is seen next time.
# mypyc runs with mypy's defaults (no config in the copy): the compiled modules need none of [tool.mypy]'s settings.
$(COMPILED)/.built: $(STAMP) pyproject.toml $(shell find broker_sim -not -path '*/__pycache__*')
	rm -rf $(COMPILED)
	mkdir -p $(COMPILED)
	touch $(COMPILED)/.started
	cp -R broker_sim $(COMPILED)/broker_sim
	find $(COMPILED) -name __pycache__ -prune -exec rm -rf {} +
	@echo "compiling $(words $(COMPILED_MODULES)) modules with mypyc into $(COMPILED) (log: $(COMPILED)/mypyc.log) ..."
	@cd $(COMPILED) && $(abspath $(VENV))/bin/mypyc $(COMPILED_MODULES) > mypyc.log 2>&1 || (cat mypyc.log; exit 1)
	mv $(COMPILED)/.started $@

compiled: $(COMPILED)/.built

# COMPILED_TESTS picks a part of the suite (CI runs the order path's tests: see .ci/run); all of it by default.
COMPILED_TESTS ?=
test-compiled: compiled
	@$(MAKE) --no-print-directory -j$(SETUP_JOBS) -Otarget clients
	$(COMPILED_ENV) PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache-compiled $(PY) -m pytest -q -n $(JOBS) $(COMPILED_TESTS)

# A wheel with the same modules compiled (setup.py; pyproject.toml's backend, in this environment, which has mypyc):
# dist/broker_sim-*-cp3XX-*.whl, for `pip install` on machines of this platform and Python version.
wheel-compiled: $(STAMP)
	@echo "building a wheel with $(words $(COMPILED_MODULES)) modules compiled by mypyc into dist/ (log: build/wheel.log) ..."
	@mkdir -p build
	@BROKER_SIM_MYPYC=1 $(PY) -m pip wheel --no-build-isolation --no-deps --wheel-dir dist . > build/wheel.log 2>&1 \
		|| (cat build/wheel.log; exit 1)
	@ls dist/*.whl

bench-compiled: compiled
	$(COMPILED_ENV) $(PY) benchmarks/core.py
	$(COMPILED_ENV) $(PY) benchmarks/storm.py
	$(COMPILED_ENV) $(PY) benchmarks/replay.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) $(NEWER_VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
