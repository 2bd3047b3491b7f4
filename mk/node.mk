# Node: the napi-rs addon (bindings/node) plus the TypeScript wrapper (node/), packaged as
# @pi-builder/core from the root package.json, whose npm scripts hold the build commands.
.PHONY: setup-node build-node test-node demo-node bench-node lint-node

NAPI_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

setup-node: ## npm dependencies (napi CLI, TypeScript; gpt-tokenizer, openai, opossum and cockatiel for the benches)
	@command -v node >/dev/null || { echo "node >= 20 is required"; exit 1; }
	@# `npm ci`: exactly package-lock.json (versions and integrity hashes), never a re-resolve;
	@# again when the lock changed since the last install.
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund --loglevel=error; fi

build-node: setup-node ## Build the addon (PROFILE=debug|release) into node/native and the wrapper into node/dist
	npm run -s build:native -- $(NAPI_PROFILE_FLAG)
	npm run -s build:ts

test-node: setup-redis build-node ## Node tests (client against the mock server included), the conformance runner, both examples
	node --test --test-reporter=spec node/dist/test/
	node tests/conformance/node/run.mjs
	node examples/node/main.mjs > /dev/null
	node examples/node/chat.mjs > /dev/null

demo-node: build-node ## Registry look-ups and token counts of the sample document; chat and stream against the mock server
	node examples/node/main.mjs
	@echo
	node examples/node/chat.mjs

bench-node: ## countTokens vs gpt-tokenizer, getModel ns/call; Client.chat vs the openai npm package; CircuitBreaker vs opossum and cockatiel, allowRequest ns/call; CostTracker.trackRequest ns/call (release builds)
	@$(MAKE) --no-print-directory PROFILE=release build-node build-mock
	node bench/node/tokens.mjs
	node bench/node/client.mjs
	node bench/node/resilience.mjs
	node bench/node/observe.mjs

lint-node: setup-node ## tsc --noEmit over the wrapper and the tests
	npm run -s lint
