# trinity-core — `make help` lists the targets. Every target installs what it needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
# One cargo target directory for every artifact (core, wheel, node addon, C library).
export CARGO_TARGET_DIR := $(ROOT)/target
# Debug builds for tests; `make bench` builds release.
PROFILE ?= debug
LIBDIR := $(CARGO_TARGET_DIR)/$(PROFILE)

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

setup: setup-redis setup-python setup-node setup-c setup-go setup-chromium setup-poppler ## Install toolchain pieces the tests need (idempotent)

demo: ## The main job in Python, fast: LLM calls against the mock provider, token counts (one progress line while it builds)
	@$(MAKE) --no-print-directory demo-main

demo-all: ## The per-language tour: Rust, Python, Node, C and Go examples
	@$(MAKE) --no-print-directory demo-rust demo-python demo-node demo-c demo-go

test: ## Build everything and run every test (Rust, Python, Node, C, Go, conformance, examples, installed packages)
	@$(MAKE) --no-print-directory test-rust test-python test-node test-c test-go test-conformance test-mock test-packages

bench: ## Benchmarks side by side (tiktoken, gpt-tokenizer, openai SDKs, LiteLLM, wrk), healer throughput, release builds
	@$(MAKE) --no-print-directory PROFILE=release bench-rust bench-python bench-node bench-healer

lint: ## rustfmt, clippy -D warnings, ruff, mypy, tsc
	@$(MAKE) --no-print-directory lint-rust lint-python lint-node

clean: ## Remove build outputs
	rm -rf target .venv node_modules node/dist dist

.PHONY: help setup demo demo-all test bench lint clean

include mk/*.mk
