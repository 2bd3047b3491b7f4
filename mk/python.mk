# Python: the wheel (maturin, abi3), pytest, conformance, example, benchmark.
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
MATURIN_FLAGS := $(if $(filter release,$(PROFILE)),--release,)
.PHONY: setup-python setup-poppler lock-python demo-main build-python test-python test-python-wheel demo-python bench-python lint-python

$(PY):
	python3 -m venv $(VENV)

# python/requirements-dev.txt is a lock: every package, transitive ones too, at an exact version
# with its hashes; pip refuses anything else. Change python/requirements-dev.in and run
# `make lock-python` to move a version on purpose.
$(VENV)/.deps: python/requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --require-hashes -r python/requirements-dev.txt
	touch $@

# `make demo` needs maturin only (requirements-build.txt, hashed too), not the whole test set.
$(VENV)/.maturin: python/requirements-build.txt | $(PY)
	$(PY) -m pip install -q --require-hashes -r python/requirements-build.txt
	touch $@

PIP_TOOLS_VENV := $(ROOT)/target/pip-tools
lock-python: ## Re-resolve python/requirements-{dev,build,dist}.in into their hashed locks (.txt) (keeps pins unless you add --upgrade via LOCK_FLAGS)
	test -x $(PIP_TOOLS_VENV)/bin/pip-compile || { python3 -m venv $(PIP_TOOLS_VENV) && $(PIP_TOOLS_VENV)/bin/pip install -q pip-tools==7.7.0; }
	for f in dev build dist; do $(PIP_TOOLS_VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) -o python/requirements-$$f.txt python/requirements-$$f.in; done

setup-python: $(VENV)/.deps ## Python venv with the locked tools (maturin, pytest, tiktoken, litellm, ...), hashes checked

build-python: setup-python ## Build the extension into .venv (debug; PROFILE=release for speed)
	cd $(ROOT) && $(VENV)/bin/maturin develop -q $(MATURIN_FLAGS) 2>&1 | grep -v -e '^Looking in links' -e '^Ignoring' || true
	$(PY) -c "import trinity_core"

# pdftotext reads the PDF performance report back in tests/python/test_monitor.py.
setup-poppler: ## Install Debian's poppler-utils (pdftotext) where missing
	@if ! command -v pdftotext >/dev/null; then \
	  echo "setup-poppler: installing poppler-utils"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null; \
	fi

test-python: setup-redis setup-chromium setup-poppler build-python test-python-wheel ## pytest: unit, tiktoken comparisons, conformance, guardian (real Chromium), example
	$(PY) -m pytest -p no:cacheprovider
	$(PY) examples/python/demo.py > /dev/null
	$(PY) examples/python/chat.py > /dev/null

# The wheel as users get it: abi3 for CPython >= 3.10, stubs and py.typed inside, importable in a fresh venv.
test-python-wheel: setup-python
	rm -rf target/wheels/trinity_core-*.whl target/wheel-venv
	$(VENV)/bin/maturin build -q --profile dev -o target/wheels 2>&1 | grep -v -e '^Looking in links' || true
	ls target/wheels/trinity_core-*-cp310-abi3-*.whl
	$(PY) -c "import zipfile,glob,sys; n=zipfile.ZipFile(glob.glob('target/wheels/trinity_core-*.whl')[0]).namelist(); \
		missing=[f for f in ('trinity_core/py.typed','trinity_core/_native.pyi','trinity_core/__init__.py') if f not in n]; sys.exit(f'wheel lacks {missing}' if missing else 0)"
	python3 -m venv target/wheel-venv
	target/wheel-venv/bin/pip install -q --no-index target/wheels/trinity_core-*.whl
	cd /tmp && $(ROOT)/target/wheel-venv/bin/python -c "import trinity_core as t; assert t.count_tokens('hello world') == 2; print('wheel: 1 passed, 0 failed')"

# The main job as a user meets it, in one language: the extension built with one progress line
# (scripts/progress/cargo shows maturin's cargo build), then an LLM call, a stream and a fault
# against the built-in mock provider, and token counts and prices.
demo-main: $(VENV)/.maturin
	@echo "make demo: trinity-core from Python: an LLM client call, a stream and a fault against the built-in mock provider, then token counts and prices."
	@echo "make demo: the first build compiles about 260 crates (5 minutes on 2 cores); later runs start at once."
	@cd $(ROOT) && PATH="$(ROOT)/scripts/progress:$$PATH" CARGO_PROGRESS_LABEL="make demo: building the Python extension" \
		PIP_FIND_LINKS= $(VENV)/bin/maturin develop -q $(MATURIN_FLAGS)
	@echo
	@$(PY) examples/python/chat.py
	@echo
	@$(PY) examples/python/demo.py
	@echo
	@echo "make demo: the same tour in Rust, Node, C and Go: make demo-all"

demo-python: build-python
	$(PY) examples/python/demo.py
	$(PY) examples/python/chat.py

bench-python: setup-redis ## Python benchmarks: count_tokens vs tiktoken, registry look-ups, Client vs openai and LiteLLM, cache hit path vs LiteLLM and cachetools, CircuitBreaker vs pybreaker, RateLimiter vs aiolimiter, CostTracker.track_request vs litellm.completion_cost, PromptOptimizer savings vs prompt-compressor; batch runner vs the OpenAI cookbook's parallel processor
	$(MAKE) --no-print-directory PROFILE=release build-python build-mock
	$(PY) bench/python/bench_tokens.py
	$(PY) bench/python/bench_client.py
	$(PY) bench/python/bench_books.py
	$(PY) bench/python/bench_context.py
	$(PY) bench/python/bench_cache.py
	$(PY) bench/python/bench_resilience.py
	$(PY) bench/python/bench_observe.py
	$(PY) bench/python/bench_prompt.py
	$(PY) bench/python/bench_batch.py

lint-python: setup-python
	$(VENV)/bin/ruff check python tests scripts examples bench
	$(VENV)/bin/ruff format --check python tests scripts examples bench
	$(VENV)/bin/mypy
