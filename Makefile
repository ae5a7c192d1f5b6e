# Every target creates .venv when missing and installs the project into it; the install is a
# fast no-op while pyproject.toml is unchanged (the stamp file records the last install).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ppcx-installed
ARGS ?=

.PHONY: demo test test-fast lint bench serve clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ppcx-tools demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# the pure tests alone (tests/unit): no Redis, NATS or PostgreSQL is started or reached
test-fast: $(STAMP)
	env -u REDIS_URL -u NATS_URL $(BIN)/python -m pytest tests/unit $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/ppcx-tools bench all $(ARGS)

serve: $(STAMP)
	$(BIN)/ppcx serve $(ARGS)

clean:
	-@[ -x $(BIN)/ppcx ] && $(BIN)/ppcx services down || true
	rm -rf $(VENV) .ppcx .pytest_cache .mypy_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
