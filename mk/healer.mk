# CSS healer and guardian: Debian's chromium for the guardian's real-browser tests (Playwright's
# own browser download is not used), the guardian tests, and the healer benchmarks.
.PHONY: setup-chromium test-guardian bench-healer

CHROMIUM ?= /usr/bin/chromium

setup-chromium: ## Install Debian's chromium where missing (the guardian drives it through Playwright)
	@if [ ! -x "$(CHROMIUM)" ] && ! command -v chromium >/dev/null; then \
	  echo "setup-chromium: installing chromium"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

test-guardian: setup-chromium build-python ## Guardian in a real Chromium: broken pages heal, clean pages render identically
	$(PY) -m pytest -p no:cacheprovider -q tests/python/test_guardian.py

bench-healer: ## Healer throughput (5 KB / 50 KB / 400 KB pages) and guardian time per page per width
	cargo bench -q -p trinity-core --bench healer
	$(MAKE) --no-print-directory PROFILE=release build-python setup-chromium
	$(PY) bench/python/bench_healer.py
