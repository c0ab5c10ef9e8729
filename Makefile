# Every target sets itself up: the virtualenv (Python 3.13, the Lambda runtime's version) and,
# when missing, the PostgreSQL server binaries. See README.md.
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench faults build diagrams clean
# pytest-xdist workers: 3 on two cores (the sandbox tests wait ~40% of the time). tests/conftest.py schedules: a module's
# shared sandbox and the order of its tests stay as written.
WORKERS ?= 3

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

setup: $(STAMP)

# REQUEST=events/provision/request-deep-sleep.yaml rehearses deep sleep (the whole data plane)
REQUEST ?= events/provision/request.yaml
demo: $(STAMP)
	$(BIN)/openflow-autopilot demo --request $(REQUEST) --report build/demo-report.json

test: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --durations=15

# the quick loop: unit and state-machine tests, no sandbox
test-fast: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) tests/unit tests/statemachine

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam validate --lint --template template.yaml
	$(PY) -m openflow_autopilot_cli.lint.asl check
	$(PY) -m openflow_autopilot_cli.lint.template_lint template.yaml

bench: $(STAMP)
	$(PY) -m openflow_sandbox.bench --out build/bench.json --readme README.md

# the fault-injection suite, then the README's fault table from what it recorded
faults: $(STAMP)
	rm -f build/faults.json
	$(BIN)/pytest -q tests/sandbox/test_faults.py; status=$$?; \
	$(PY) -m openflow_sandbox.fault_table --readme README.md && exit $$status

# sam build needs python3.13 on PATH: the virtualenv's.
build: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

diagrams: $(STAMP)
	$(PY) -m openflow_autopilot_cli.lint.asl diagrams README.md

clean:
	rm -rf build .aws-sam .pytest_cache .mypy_cache .ruff_cache
