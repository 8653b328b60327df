# Only1MCP — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/solo.yaml
STAMP := $(VENV)/.installed
RUST_SOURCES := $(wildcard rust/*.rs) Cargo.toml

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(RUST_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv, build the Rust extension, install with dev+demo extras

run: $(STAMP) ## Start the aggregator on the default config (http://127.0.0.1:8765/mcp)
	$(VENV)/bin/only1mcp start --config $(CONFIG)

test: $(STAMP) ## Run the Rust and Python test suites
	cargo test --quiet
	$(VENV)/bin/pytest

lint: $(STAMP) ## ruff, mypy, stubtest, clippy, rustfmt
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest only1mcp._core
	cargo clippy --all-targets --quiet -- -D warnings
	cargo fmt --check

format: $(STAMP) ## Format Python and Rust sources
	$(VENV)/bin/ruff format python tests benches
	$(VENV)/bin/ruff check --fix python tests benches
	cargo fmt

bench: $(STAMP) ## Micro-benchmarks of the Rust core and hot Python paths
	$(VENV)/bin/pytest benches --benchmark-only

build: $(STAMP) ## Build an abi3 wheel into dist/
	$(VENV)/bin/maturin build --release --out dist

clean: ## Remove the venv and build output
	rm -rf $(VENV) target dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks

.PHONY: help install run test lint format bench build clean
