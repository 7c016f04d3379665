# The two commands a newcomer needs:  `make run`  (the system's main job)  and  `make test`.
# Every command runs `$(BIN)/python -m ...` from this directory: nothing depends on where the clone lives
# (a path with spaces breaks the shebang of a venv script on some systems) or on the PATH.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat constraints.txt requirements-dev.txt */pyproject.toml services/*/pyproject.toml pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help setup infra run full-plan chaos fuzz api-fuzz portal-fuzz properties services stop test lint unit bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: $(STAMP)  ## create .venv and install the pinned packages (idempotent)
$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt -e shared -e services/enrollment -e services/funding -e services/talent-card -e services/portal -e .
	touch $@

infra: setup  ## start PostgreSQL and Kafka (idempotent), create schemas, roles and topics
	$(BIN)/python -m infra up

run: infra  ## the main job: start everything, play the plan on a realistic cohort, report and reconcile
	$(BIN)/python -m simulation $(ARGS)

full-plan: infra  ## the main job on the whole two-year plan (110,200 enrolments)
	$(BIN)/python -m simulation --full-plan $(ARGS)

chaos: infra  ## the main job on 20,000 trainees while services, the broker and PostgreSQL are crashed and restarted
	$(BIN)/python -m simulation --trainees 20000 --chaos $(ARGS)

fuzz: infra  ## the Kafka fuzz tier at full size (20,000 generated records; CI runs 1,500)
	$(BIN)/python -m infra services stop
	eval "$$($(BIN)/python -m infra env)" && FUZZ_RECORDS=$${FUZZ_RECORDS:-20000} $(BIN)/python -m pytest -p no:cacheprovider -s tests/e2e/test_fuzz.py

api-fuzz: infra  ## schemathesis and our malformed-input tier against the three APIs at full size (CI: 40 and 15 examples per operation)
	$(BIN)/python -m infra services stop
	eval "$$($(BIN)/python -m infra env)" && SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-500} MALFORMED_EXAMPLES=$${MALFORMED_EXAMPLES:-200} $(BIN)/pytest -p no:cacheprovider -s tests/e2e/test_schemathesis.py tests/e2e/test_malformed_http.py

portal-fuzz: infra  ## hostile HTTP against every route of the portal at full size (CI: 15 generated values per parameter)
	$(BIN)/python -m infra services stop
	eval "$$($(BIN)/python -m infra env)" && PORTAL_FUZZ_EXAMPLES=$${PORTAL_FUZZ_EXAMPLES:-200} flock /tmp/plan-services.lock $(BIN)/pytest -p no:cacheprovider -q tests/e2e/portal/test_hostile_http.py

properties: infra  ## the money state machine, the run-vs-one-by-one comparison and generated bulk withdrawals at full size (CI runs fewer examples)
	eval "$$($(BIN)/python -m infra env)" && MONEY_EXAMPLES=$${MONEY_EXAMPLES:-500} MONEY_STEPS=$${MONEY_STEPS:-50} RUN_EXAMPLES=$${RUN_EXAMPLES:-1000} WITHDRAWAL_EXAMPLES=$${WITHDRAWAL_EXAMPLES:-300} $(BIN)/python -m pytest -p no:cacheprovider tests/integration/funding/test_money_properties.py tests/integration/funding/test_runs.py tests/integration/enrollment/test_withdrawal_properties.py

services: infra  ## only start the three services (no simulation)
	$(BIN)/python -m infra services start

stop:  ## stop services, Kafka and PostgreSQL (data kept in .local/)
	$(BIN)/python -m infra down

lint: setup  ## ruff and mypy --strict
	$(BIN)/python -m ruff check shared services tests infra simulation benchmarks
	$(BIN)/python -m ruff format --check shared services tests infra simulation benchmarks
	$(BIN)/python -m mypy shared/src services/enrollment/src services/funding/src services/talent-card/src services/portal/src

test: infra  ## everything: lint, unit, integration and end-to-end tests against the real broker and database
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m infra services stop  # a quiet broker: the tests start the services they need
	eval "$$($(BIN)/python -m infra env)" && $(BIN)/python -m pytest -p no:cacheprovider -ra $(PYTEST_ARGS)

unit: setup  ## the fast tier only (no broker, no database)
	$(BIN)/python -m pytest tests/unit -q

bench: infra  ## every benchmark in one go, one table
	eval "$$($(BIN)/python -m infra env)" && flock /tmp/plan-services.lock $(BIN)/python -m benchmarks $(ARGS)

clean:  ## remove the virtualenv (keeps .local data; `python -m infra wipe --yes` deletes it)
	rm -rf $(VENV)
