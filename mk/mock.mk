# Mock provider server: `trinity mock-server` (cli/), its Rust integration tests, and the
# official openai/anthropic Python SDKs pointed at it.
.PHONY: build-mock test-mock demo-mock

TRINITY_BIN := $(LIBDIR)/trinity
MOCK_CARGO_FLAGS := $(if $(filter debug,$(PROFILE)),,--profile $(PROFILE))

build-mock: ## Build the `trinity` CLI (mock-server subcommand)
	cargo build -q -p trinity-cli $(MOCK_CARGO_FLAGS)

test-mock: build-mock setup-python ## Mock server: Rust integration tests, then the openai/anthropic SDKs against it
	cargo test -q -p trinity-core --test mock_server
	TRINITY_BIN=$(TRINITY_BIN) $(PY) -m pytest -q -p no:cacheprovider tests/mock

demo-mock: build-mock ## Start the mock server, ask it once per wire format, print its stats
	@coproc MOCK { exec $(TRINITY_BIN) mock-server --port 0 --script ok,429,ok; }; \
	read -r _ _ url <&"$${MOCK[0]}"; echo "mock server at $$url"; \
	curl -s "$$url/v1/chat/completions" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from openai format"}]}'; echo; \
	curl -s -i "$$url/v1/messages" -d '{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}' | sed -n '1p;/^retry-after/p;$$p'; echo; \
	curl -sN "$$url/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse" -d '{"contents":[{"parts":[{"text":"streamed from gemini format"}]}]}'; \
	curl -s "$$url/_mock/stats"; echo; \
	eval "exec $${MOCK[1]}>&-"; wait
