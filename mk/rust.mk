# Rust: the core crate's unit, integration and conformance tests.
.PHONY: test-rust lint-rust demo-rust

test-rust: ## Rust unit + conformance tests
	cargo test -p trinity-core

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

demo-rust:
	cargo run -q -p trinity-core --example demo
