# Wharf: `make run` starts a server with an example app; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test check format bench clean runner-image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'

run: install
	PATH="$(abspath $(BIN)):$$PATH" bash deploy/run-local.sh

# The image containers of the docker backend start from, built without any registry (root).
runner-image: install
	PYTHON=$(BIN)/python deploy/runner-base/build.sh

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

bench: install
	$(BIN)/python bench/remote_latency.py
	$(BIN)/python bench/web_overhead.py
	$(BIN)/python bench/websockets.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/autoscale.py
	$(BIN)/python bench/map_throughput.py
	$(BIN)/python bench/payloads.py
	$(BIN)/python bench/pending.py
	$(BIN)/python bench/soak.py --minutes 5

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache
