# Rust: the core crate's unit, integration and conformance tests.
.PHONY: test-rust lint-rust demo-rust check-one-build soak-batch

test-rust: setup-redis ## Rust unit + conformance tests, and the CLI's (every test binary runs even after a failure)
	cargo test --no-fail-fast -p trinity-core -p trinity-cli

lint-rust: check-one-build
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --exclude trinity-node -- -D warnings
	# napi-derive leaves exported functions unregistered under cfg(test): lint the addon's lib only.
	cargo clippy -p trinity-node -- -D warnings

demo-rust:
	cargo run -q -p trinity-core --example demo

.PHONY: bench-rust
bench-rust: ## Rust client (overhead, throughput next to wrk, memory over 1M requests); cache (memory hit, fs hit, 1M-entry bound); resilience primitives ns/call; metrics primitives and ClientMetrics::observe ns/call; pruneContext; prompt optimizer savings per corpus slice and compress ms per 1k tokens; batch runner vs the client's own throughput
	@command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }; }
	cargo build -q --release -p trinity-cli
	cargo bench -q -p trinity-core --bench client
	cargo bench -q -p trinity-core --bench cache
	cargo bench -q -p trinity-core --bench resilience
	cargo bench -q -p trinity-core --bench metrics
	cargo bench -q -p trinity-core --bench context
	cargo bench -q -p trinity-core --bench prompt
	cargo bench -q -p trinity-core --bench batch

check-one-build: ## Fail when the test/demo builds would compile a dependency twice in one profile (tools/workspace-hack)
	python3 scripts/check_one_build.py
	python3 scripts/check_one_build.py --release

soak-batch: ## The batch crash soak at the issue's size: 10,000 lines, 200 SIGKILLs at random moments, each resumed
	TRINITY_BATCH_SOAK_KILLS=200 cargo test -p trinity-cli --test batch sigkill_at_random_moments -- --nocapture
