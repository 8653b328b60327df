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

HELM := .tools/bin/helm

test: $(STAMP) conformance-deps js-deps tokenizer-deps idp-deps $(HELM) ## Run the Rust and Python test suites (incl. the MCP conformance suite)
	@$(call need,chromium,chromium)
	@$(call need,systemd-analyze,systemd)
	@$(call need,shellcheck,shellcheck)
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

# $(call need,COMMAND,DEBIAN-PACKAGE): install the package with apt-get when COMMAND is missing
# (as root; apt-get update only when the first install fails), else say how and stop.
need = command -v $(1) >/dev/null || test -x /usr/sbin/$(1) || if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(2) || { apt-get update -q && apt-get install -y -q $(2); }; else echo "$@ needs $(1): sudo apt-get install -y $(2)" >&2; exit 1; fi

bench-gate: $(STAMP) ## Short load test of every path vs its reference; fails on a >15% regression (benches/baseline.json)
	@$(call need,wrk,wrk)
	@$(call need,nginx,nginx-light)
	$(PY) loadtests/gate.py $(GATE_ARGS)

loadtest: $(STAMP) ## Full load test -> loadtests/results/latest.json, docs/PERFORMANCE.md (LOADTEST_ARGS=--quick)
	@$(call need,wrk,wrk)
	@$(call need,nginx,nginx-light)
	$(PY) loadtests/run_load.py $(LOADTEST_ARGS)

build: $(STAMP) ## Build an abi3 wheel into dist/
	$(VENV)/bin/maturin build --release --out dist

wheel-check: $(STAMP) ## Build the wheel, install it in a fresh venv without cargo/rustc, serve a real call
	$(PY) tools/wheel_check.py

helm: $(HELM) ## Build helm from the Go module proxy into .tools/bin for the chart tests (once; ~1 min with Go's cache warm, ~30 min cold)

$(HELM):
	GOBIN=$(CURDIR)/.tools/bin go install helm.sh/helm/v4/cmd/helm@v4.3.2

CONFORMANCE_DIR := tools/conformance
CONFORMANCE_STAMP := $(CONFORMANCE_DIR)/node_modules/.installed

$(CONFORMANCE_STAMP): $(CONFORMANCE_DIR)/package.json $(CONFORMANCE_DIR)/package-lock.json
	npm ci --prefix $(CONFORMANCE_DIR)
	touch $(CONFORMANCE_STAMP)

conformance-deps: $(CONFORMANCE_STAMP) ## Install the pinned MCP conformance suite + Node 22 (npm ci, once)

.PHONY: conformance-deps

JS_DIR := tools/mcp-js
JS_STAMP := $(JS_DIR)/node_modules/.installed

$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	npm ci --prefix $(JS_DIR) --no-audit --no-fund
	touch $(JS_STAMP)

js-deps: $(JS_STAMP) ## Install the TypeScript SDK, reference servers and Inspector CLI of the test matrix (npm ci, once)

.PHONY: js-deps

IDP_DIR := tools/idp
IDP_STAMP := $(IDP_DIR)/node_modules/.installed

$(IDP_STAMP): $(IDP_DIR)/package.json $(IDP_DIR)/package-lock.json
	npm ci --prefix $(IDP_DIR) --no-audit --no-fund
	touch $(IDP_STAMP)

idp-deps: $(IDP_STAMP) ## Install the OpenID provider of the security tests (oidc-provider + Node 22; npm ci, once)

.PHONY: idp-deps

TOKENIZER_DIR := tools/tokenizer
TOKENIZER_STAMP := $(TOKENIZER_DIR)/node_modules/.installed

$(TOKENIZER_STAMP): $(TOKENIZER_DIR)/package.json $(TOKENIZER_DIR)/package-lock.json
	npm ci --prefix $(TOKENIZER_DIR) --no-audit --no-fund
	touch $(TOKENIZER_STAMP)

tokenizer-deps: $(TOKENIZER_STAMP) ## Install gpt-tokenizer (o200k_base inside the package) for the context report (npm ci, once)

context-report: $(STAMP) tokenizer-deps ## Catalog tokens (full/compact/lazy), search recall and latency -> docs/CONTEXT.md
	$(PY) tools/context/context_report.py

.PHONY: tokenizer-deps context-report

cli-docs: $(STAMP) ## Regenerate docs/cli.md, the CLI reference, from the CLI itself (a test fails when it is stale)
	$(PY) tools/cli_docs.py

.PHONY: cli-docs

clean: ## Remove the venv and build output
	rm -rf $(VENV) target dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks .bench tools/conformance/node_modules tools/mcp-js/node_modules tools/tokenizer/node_modules tools/idp/node_modules

.PHONY: help install run test lint format bench bench-gate loadtest build wheel-check helm clean
