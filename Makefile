# The two commands of the README: `make run` serves the demo models, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?=
# gRPC on the port after PORT, as 8081 follows 8080 by default: a second `make run PORT=9000` beside a
# default server gets a fixed, predictable pair (9000, 9001) instead of colliding on 8081.
GRPC_PORT ?= $(if $(PORT),$(shell echo $$(($(PORT) + 1))))

.PHONY: run test check lint typecheck unit clean browser postgres

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "modelport needs Python 3.11+; set PYTHON=python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml tests/requirements-kserve.txt | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps -r tests/requirements-kserve.txt
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/modelport serve --demo $(if $(PORT),--port $(PORT)) $(if $(GRPC_PORT),--grpc-port $(GRPC_PORT))

# The suite waits on servers, databases and clusters for much of its time: two workers, each running whole
# modules (their module-scoped servers start once), take it from about 25 minutes to about 10 on 2 cores.
TEST_WORKERS ?= 2
test: check browser postgres
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The dashboard's browser tests drive Debian's chromium through playwright (never `playwright install`).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "the dashboard tests need $(CHROMIUM): run 'sudo apt-get install -y chromium' (or make test as root)"; \
			exit 1; \
		fi; \
		apt-get update && apt-get install -y chromium; \
	fi

# The registry's tests also run on a throwaway cluster of Debian's postgresql (tests/postgres.py starts it).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "the registry tests need Debian's postgresql: run 'sudo apt-get install -y postgresql' (or make test as root)"; \
			exit 1; \
		fi; \
		apt-get update && apt-get install -y postgresql; \
	fi

check: lint typecheck

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (not part of `make test`): peers (../shared/bench) + modelport cells -> docs/performance.md.
PEERS ?= $(HOME)/.cache/peer-bench
export PEERS
.PHONY: bench

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@

bench: $(VENV)/.installed-bench
	@[ -d "$(PEERS)/base-venv" ] || bash ../shared/bench/setup_peers.sh
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/many_models.py --doc docs/performance.md
	$(BIN)/python benchmarks/slo_flood.py --doc docs/performance.md
	$(BIN)/python benchmarks/drift_sim.py
	$(BIN)/python benchmarks/batch_bench.py --doc docs/performance.md
	$(BIN)/python benchmarks/job_p99.py --doc docs/performance.md
	$(BIN)/python benchmarks/replica_convergence.py --doc docs/performance.md
	$(BIN)/python benchmarks/ray_serve_bench.py --doc docs/performance.md
	$(BIN)/python benchmarks/frontends_bench.py --doc docs/performance.md
	$(BIN)/python benchmarks/lone_request.py --doc docs/performance.md
	$(BIN)/python benchmarks/grpc_peers.py --concurrency 64,1 --doc docs/performance.md
	$(BIN)/python benchmarks/grpc_stream_floor.py --doc docs/performance.md
