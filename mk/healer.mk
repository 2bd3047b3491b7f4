# CSS healer and guardian: Debian's chromium for the guardian's real-browser tests (Playwright's
# own browser download is not used), the guardian tests, the real-page corpus, and the healer
# benchmarks.
.PHONY: setup-chromium healer-corpus test-guardian bench-healer healer-figures

CHROMIUM ?= /usr/bin/chromium
# Real, complete site templates with their CSS, from npm (MIT-licensed Start Bootstrap themes),
# unpacked at test time into a git-ignored folder: not committed, pinned by version.
HEALER_CORPUS := $(ROOT)/target/healer-corpus
HEALER_CORPUS_PACKAGES := startbootstrap-creative@7.0.7 startbootstrap-resume@7.0.6 \
	startbootstrap-sb-admin@7.0.7 startbootstrap-simple-sidebar@6.0.6 startbootstrap-sb-admin-2@4.1.4

setup-chromium: ## Install Debian's chromium where missing (the guardian drives it through Playwright)
	@if [ ! -x "$(CHROMIUM)" ] && ! command -v chromium >/dev/null; then \
	  echo "setup-chromium: installing chromium"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

healer-corpus: $(HEALER_CORPUS)/.done ## Unpack the real-page corpus (Start Bootstrap templates from npm) into target/healer-corpus

$(HEALER_CORPUS)/.done: mk/healer.mk
	rm -rf $(HEALER_CORPUS) && mkdir -p $(HEALER_CORPUS)/.packs
	cd $(HEALER_CORPUS)/.packs && npm pack --silent $(HEALER_CORPUS_PACKAGES) >/dev/null
	cd $(HEALER_CORPUS) && for tgz in .packs/*.tgz; do \
	  name=$$(basename $$tgz .tgz); mkdir -p $$name && tar xzf $$tgz -C $$name --strip-components=1; \
	done
	touch $@

test-guardian: setup-chromium build-python healer-corpus ## Guardian in a real Chromium: broken pages heal, clean pages render identically
	$(PY) -m pytest -p no:cacheprovider -q tests/python/test_guardian.py tests/python/test_guardian_corpus.py

healer-figures: setup-chromium build-python healer-corpus ## The guardian on the whole corpus: fixed/overflowing, changed/clean, masked, time per page
	$(PY) bench/python/bench_healer.py --corpus

bench-healer: ## Healer throughput (5 KB / 50 KB / 400 KB pages) and guardian time per page per width
	cargo bench -q -p trinity-core --bench healer
	$(MAKE) --no-print-directory PROFILE=release build-python setup-chromium
	$(PY) bench/python/bench_healer.py
