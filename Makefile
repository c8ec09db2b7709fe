# FairQueue. `make run` starts everything; `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help install run test test-fast test-cluster test-faults screenshots bench bench-shards race fairness lint check clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh
	@touch $@

install: $(VENV)/.synced ## create .venv from uv.lock (finds Python 3.12+ and uv)

run: install ## start Redis, web (127.0.0.1:8000), a worker and demo data; Ctrl-C stops all
	@scripts/run.sh

test: install ## the whole suite but the long fault tests (private redis-server, Chromium), then the DB tests on a private PostgreSQL
	@scripts/ensure-redis-server.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-postgres.sh
	$(PY) -m pytest -m "not faults" $(PYTEST_ARGS)
	$(PY) -m tests.postgres_server env FAIRQUEUE_EXPECT_DB=postgresql $(PY) -m pytest tests/site tests/web -q
	FAIRQUEUE_TEST_TOPOLOGY=cluster3 $(PY) -m pytest tests/integration -q

test-cluster: install ## the engine's integration tests on a loopback Redis Cluster (3 primaries), queues of 3 shards
	@scripts/ensure-redis-server.sh
	FAIRQUEUE_TEST_TOPOLOGY=cluster3 $(PY) -m pytest tests/integration -q $(PYTEST_ARGS)

test-fast: install ## the suite without slow tests
	@scripts/ensure-redis-server.sh
	$(PY) -m pytest -m "not slow and not faults" $(PYTEST_ARGS)

test-faults: install ## the long real-process fault tests (tests/faults, marker faults; ~5 min)
	@scripts/ensure-redis-server.sh
	$(PY) -m pytest -m faults tests/faults -q

screenshots: install ## retake docs/screenshots/*.png (the browser tests, in Chromium)
	@scripts/ensure-redis-server.sh
	@scripts/ensure-chromium.sh
	FAIRQUEUE_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/browser -q

bench-shards: install ## 1 shard vs 3 on a loopback Redis Cluster, 3 runworker processes (tests/perf/bench_shards.py)
	@scripts/ensure-redis-server.sh
	$(PY) -m tests.perf.bench_shards $(BENCH_ARGS)

bench: install ## benchmarks (tests/perf): engine, worker and enqueue tables; not a CI gate
	@scripts/ensure-redis-server.sh
	$(PY) -m tests.perf.bench_engine $(BENCH_ARGS)
	$(PY) -m tests.perf.bench_worker $(BENCH_ARGS)
	$(PY) -m tests.perf.bench_enqueue $(BENCH_ARGS)
	$(PY) -m tests.perf.bench_workflows $(BENCH_ARGS)

race: install ## FairQueue vs Huey, Dramatiq, Celery, RQ, arq (bench group; ~15 min) -> docs/performance.md
	@scripts/ensure-redis-server.sh
	@scripts/bootstrap.sh --group bench || echo "warning: the bench group did not install: those libraries show n/a"
	@UV_PROJECT_ENVIRONMENT=$(CURDIR)/var/race-arq scripts/bootstrap.sh --project tests/perf/race/arq_env \
		|| echo "warning: the arq venv did not install: arq shows n/a"
	$(PY) -m tests.perf.race $(RACE_ARGS)

fairness: install ## fairness report: logical-clock simulation through the engine (~1 min) -> docs/fairness.md, .png
	@scripts/ensure-redis-server.sh
	@scripts/bootstrap.sh --group bench || echo "warning: the bench group (matplotlib) did not install: no chart"
	$(PY) -m tests.perf.fairness_report --write $(FAIRNESS_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check .

check: install ## style, types and layering: ruff, ruff format --check, mypy (engine), import contracts, no import cycle, manage.py check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -p no:randomly tests/unit/test_layering.py
	DEBUG=1 $(PY) manage.py check

clean: ## remove the venv and local state (var/)
	rm -rf $(VENV) var
