# Packaging: the artifacts users install, and tests that install them.
#   make dist           release builds linked against glibc 2.17 (zig) -> dist/: the wheel and sdist,
#                       both npm tarballs, the libtrinity tarball, the Go module as a file proxy,
#                       licences, SBOMs, SHA256SUMS; fails when an artifact grew >10% over packaging/sizes.json
#   make test-packages  the same packaging from the dev builds `make test` already made, installed as
#                       users install it (fresh venv without cargo, offline npm project, pkg-config,
#                       GOPROXY=file://), then the tests run against the installed copies
#   make install PREFIX=/usr/local DESTDIR=   libtrinity from dist/ (or from the dev build without dist/)
.PHONY: dist dist-build dist-record-sizes dist-check-reproducible install test-packages test-sdist \
	test-wheel-installed test-guardian-installed test-npm-installed test-c-installed test-go-module

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(ROOT)/Cargo.toml | head -n1)
# Every archive's timestamps; the same commit gives the same bytes.
export SOURCE_DATE_EPOCH ?= $(shell git -C $(ROOT) log -1 --format=%ct 2>/dev/null || echo 315532800)
DIST := $(ROOT)/dist
PKG := $(CARGO_TARGET_DIR)/packages
ZIG_LIBDIR := $(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/release
GLIBC_FLOOR := 2.17
# Release builds carry no path of this machine (reproducible across checkouts).
DIST_RUSTFLAGS := --remap-path-prefix=$(ROOT)=/trinity-core --remap-path-prefix=$(HOME)/.cargo=/cargo \
	--remap-path-prefix=$(HOME)/.rustup=/rustup
DIST_ENV := RUSTFLAGS="$(DIST_RUSTFLAGS)"
PACKAGE := python3 $(ROOT)/scripts/package.py
C_TARBALL := libtrinity-$(VERSION)-x86_64-linux-gnu

# (mk/python.mk, which defines VENV, is read after this file: spell the path out here.)
DIST_TOOLS := $(ROOT)/.venv/.dist-tools
$(DIST_TOOLS): python/requirements-build.txt python/requirements-dist.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r python/requirements-build.txt -r python/requirements-dist.txt
	touch $@

dist: ## Release artifacts into dist/ (wheel+sdist, npm tarballs, libtrinity tarball, Go module proxy, SBOMs); size check
	@$(MAKE) --no-print-directory dist-build
	$(PACKAGE) sizes $(DIST)/*.whl $(DIST)/*.tar.gz $(DIST)/*.tgz $(DIST)/lib/libtrinity.so
	@echo "dist: $$(ls $(DIST) | wc -l) entries in dist/ (SHA256SUMS lists them)"

dist-build: $(DIST_TOOLS)
	rm -rf $(DIST) && mkdir -p $(DIST)
	$(PACKAGE) notices --crate trinity-python --name trinity-core --out $(ROOT)/python/trinity_core/_licenses
	@# One release build: maturin builds the wheel (abi3, manylinux_2_17 through zig) and
	@# scripts/dist-shim/cargo builds the C library and the Node addon in maturin's environment.
	$(DIST_ENV) PATH="$(ROOT)/scripts/dist-shim:$(VENV)/bin:$$PATH" DIST_ALSO_BUILD="-p trinity-c -p trinity-node" \
		maturin build --release --locked --zig --compatibility manylinux_2_17 --target x86_64-unknown-linux-gnu -o $(DIST)
	PATH="$(VENV)/bin:$$PATH" maturin sdist -o $(DIST)
	$(VENV)/bin/auditwheel show $(DIST)/trinity_core-*.whl | tee $(DIST)/auditwheel.txt
	grep -q 'manylinux_2_17_x86_64' $(DIST)/auditwheel.txt
	ls $(DIST)/trinity_core-$(VERSION)-cp310-abi3-*manylinux_2_17_x86_64*.whl
	$(PACKAGE) c --libdir $(ZIG_LIBDIR) --out $(DIST) --strip
	@# The root package's JS and types: compiled here, a fresh checkout has none.
	$(MAKE) --no-print-directory setup-node && npm run -s build:ts
	$(PACKAGE) npm --addon $(ZIG_LIBDIR)/libtrinity_node.so --out $(DIST) --strip
	$(PACKAGE) go --staticlib $(ZIG_LIBDIR)/libtrinity.a --out $(DIST)/goproxy --strip
	@mkdir -p $(DIST)/lib && cp $(DIST)/stage/$(C_TARBALL)/lib/libtrinity.so.$(VERSION) $(DIST)/lib/libtrinity.so
	scripts/check_elf.sh $(DIST)/lib/libtrinity.so $(GLIBC_FLOOR)
	scripts/check_elf.sh $(DIST)/stage/npm/linux-x64-gnu/trinity.linux-x64-gnu.node $(GLIBC_FLOOR)
	cd $(DIST) && sha256sum *.whl *.tar.gz *.tgz lib/libtrinity.so $$(find goproxy -name '*.zip' | sort) > SHA256SUMS

dist-record-sizes: ## Record the sizes of the artifacts in dist/ as the new baseline (packaging/sizes.json)
	$(PACKAGE) sizes --record $(DIST)/*.whl $(DIST)/*.tar.gz $(DIST)/*.tgz $(DIST)/lib/libtrinity.so

dist-check-reproducible: ## Run make dist again (cargo reuses the builds) and compare every artifact byte for byte
	cp $(DIST)/SHA256SUMS $(CARGO_TARGET_DIR)/dist-SHA256SUMS
	@$(MAKE) --no-print-directory dist-build
	cd $(DIST) && sha256sum -c $(CARGO_TARGET_DIR)/dist-SHA256SUMS && echo "dist: the same bytes again"

PREFIX ?= /usr/local
# What `make install` copies: the release tree of the last `make dist`, else the dev build's.
INSTALL_STAGE ?= $(if $(wildcard $(DIST)/stage/$(C_TARBALL)),$(DIST)/stage/$(C_TARBALL),$(PKG)/stage/$(C_TARBALL))

install: ## Install libtrinity (lib with SONAME links, .a, include/trinity.h, pkg-config) into $(DESTDIR)$(PREFIX)
	@if [ "$(INSTALL_STAGE)" = "$(PKG)/stage/$(C_TARBALL)" ]; then $(MAKE) --no-print-directory build-c $(PKG)/.c; fi
	$(PACKAGE) install --stage $(INSTALL_STAGE) --prefix $(PREFIX) --destdir "$(DESTDIR)"

# ---------------------------------------------------------------------------------------------
# Installed-artifact tests, on the dev builds (test-python-wheel, build-node and build-c made them)

test-packages: test-wheel-installed test-guardian-installed test-sdist test-npm-installed test-c-installed test-go-module ## Install every package as users do and test the installed copies

# The dev C package, remade when the library, the header or the packaging script changed.
$(PKG)/.c: $(LIBDIR)/libtrinity.so $(LIBDIR)/libtrinity.a $(ROOT)/include/trinity.h $(ROOT)/scripts/package.py
	$(PACKAGE) c --libdir $(LIBDIR) --out $(PKG) --strip
	touch $@

WHEEL_VENV := $(CARGO_TARGET_DIR)/installed/venv
# No cargo, rustc or rustup on PATH in the installed-package venv.
CLEAN_PATH := /usr/local/bin:/usr/bin:/bin

test-wheel-installed: test-python-wheel setup-redis
	rm -rf $(WHEEL_VENV) && mkdir -p $(dir $(WHEEL_VENV))
	env -i HOME=$$HOME PATH=$(CLEAN_PATH) bash -c '! command -v cargo && ! command -v rustc'
	python3 -m venv $(WHEEL_VENV)
	@# The test tools from the hashed lock (pip's cache makes this quick), then the wheel with --no-index.
	$(WHEEL_VENV)/bin/pip install -q --require-hashes -r python/requirements-dev.txt
	$(WHEEL_VENV)/bin/pip install -q --no-index --no-deps target/wheels/trinity_core-*.whl
	cd /tmp && env -i HOME=$$HOME PATH=$(WHEEL_VENV)/bin:$(CLEAN_PATH) TRINITY_EXPECT_INSTALLED=1 \
		python -c "import trinity_core, sys; f = trinity_core.__file__; print(f); sys.exit(0 if '/site-packages/trinity_core/' in f else 'not installed: ' + f)"
	cd /tmp && env -i HOME=$$HOME PATH=$(WHEEL_VENV)/bin:$(CLEAN_PATH) trinity --help | grep -q mock-server
	cd /tmp && env -i HOME=$$HOME PATH=$(WHEEL_VENV)/bin:$(CLEAN_PATH) trinity --version
	cd /tmp && env -i HOME=$$HOME PATH=$(WHEEL_VENV)/bin:$(CLEAN_PATH) bash -c 'trinity mock-server --bogus; test $$? -eq 2'
	@# The Python suite from outside the repository, against the installed package (the guardian's
	@# tests run in their own venv with the [guardian] extra, below).
	cd /tmp && env -i HOME=$$HOME PATH=$(WHEEL_VENV)/bin:$(CLEAN_PATH) TRINITY_EXPECT_INSTALLED=1 \
		python -m pytest -q -p no:cacheprovider --rootdir=$(ROOT) -c $(ROOT)/pyproject.toml \
		$(ROOT)/tests/python $(ROOT)/tests/conformance/python \
		--ignore=$(ROOT)/tests/python/test_guardian.py --ignore=$(ROOT)/tests/python/test_guardian_corpus.py

GUARDIAN_VENV := $(CARGO_TARGET_DIR)/installed/guardian-venv
# The [guardian] extra installed: `trinity heal --guardian` through the console script (which hands the
# page to this venv's python) and a cross-section of the guardian tests (the full set runs in test-python).
GUARDIAN_TESTS := clean_page_comes_back or external_stylesheet or cli_heals_a_page or missing_browser
test-guardian-installed: test-python-wheel setup-chromium
	rm -rf $(GUARDIAN_VENV) && python3 -m venv $(GUARDIAN_VENV)
	$(GUARDIAN_VENV)/bin/pip install -q --require-hashes -r python/requirements-dev.txt
	@# The extra resolves from the wheel's metadata; its playwright is already there from the lock.
	$(GUARDIAN_VENV)/bin/pip install -q --no-index "$$(ls target/wheels/trinity_core-*.whl)[guardian]"
	mkdir -p $(PKG)
	cd /tmp && env -i HOME=$$HOME PATH=$(GUARDIAN_VENV)/bin:$(CLEAN_PATH) \
		trinity heal --guardian $(ROOT)/tests/fixtures/layouts/broken/fixed-width.html -o $(PKG)/guardian-healed.html
	grep -q data-trinity-heal $(PKG)/guardian-healed.html
	cd /tmp && env -i HOME=$$HOME PATH=$(GUARDIAN_VENV)/bin:$(CLEAN_PATH) TRINITY_EXPECT_INSTALLED=1 \
		python -m pytest -q -p no:cacheprovider --rootdir=$(ROOT) -c $(ROOT)/pyproject.toml \
		$(ROOT)/tests/python/test_guardian.py -k "$(GUARDIAN_TESTS)"

NPM_PROJECT := $(CARGO_TARGET_DIR)/installed/npm-project
test-npm-installed: setup-redis build-node
	rm -rf $(PKG)/npm && $(PACKAGE) npm --addon node/native/trinity.linux-x64-gnu.node --out $(PKG)/npm --strip
	@size=$$(stat -c %s $(PKG)/npm/pi-builder-core-$(VERSION).tgz); echo "npm: root package $$size bytes packed"; \
		test $$size -lt 100000 || { echo "the root package is over 100 kB"; exit 1; }
	rm -rf $(NPM_PROJECT) && mkdir -p $(NPM_PROJECT)/test && cd $(NPM_PROJECT) && echo '{"name":"app","private":true}' > package.json
	cd $(NPM_PROJECT) && npm install --offline --no-audit --no-fund --loglevel=error \
		$(PKG)/npm/pi-builder-core-linux-x64-gnu-$(VERSION).tgz $(PKG)/npm/pi-builder-core-$(VERSION).tgz
	cd $(NPM_PROJECT) && node -e "const p = require.resolve('@pi-builder/core'); if (!p.includes('/node_modules/')) process.exit(1); console.log(p)"
	cp node/dist/test/*.js $(NPM_PROJECT)/test/
	cd $(NPM_PROJECT) && TRINITY_REPO=$(ROOT) node --test --test-reporter=spec test/
	cd $(NPM_PROJECT) && npx --offline trinity --help | grep -q mock-server
	@# Without the platform package: the clear error, not napi's generic one.
	rm -rf $(NPM_PROJECT)-bare && mkdir -p $(NPM_PROJECT)-bare && cd $(NPM_PROJECT)-bare && echo '{"name":"bare","private":true}' > package.json
	cd $(NPM_PROJECT)-bare && npm install --offline --omit=optional --no-audit --no-fund --loglevel=error $(PKG)/npm/pi-builder-core-$(VERSION).tgz
	cd $(NPM_PROJECT)-bare && node -e " \
		try { require('@pi-builder/core'); process.exit(1); } \
		catch (e) { if (e.code !== 'TRINITY_NATIVE_MISSING' || !e.message.includes('@pi-builder/core-linux-x64-gnu')) throw e; console.log('npm: without the platform package: ' + e.message.split('.')[0]); }"

C_INSTALL := $(CARGO_TARGET_DIR)/installed/c-root
test-c-installed: build-c
	@$(MAKE) --no-print-directory $(PKG)/.c
	rm -rf $(C_INSTALL) && $(PACKAGE) install --stage $(PKG)/stage/$(C_TARBALL) --prefix /usr/local --destdir $(C_INSTALL)
	@# The tarball unpacks to the same tree.
	tar -tzf $(PKG)/$(C_TARBALL).tar.gz | sort > $(PKG)/c-tar.txt
	for f in lib/libtrinity.so lib/libtrinity.so.1 lib/libtrinity.so.$(VERSION) lib/libtrinity.a include/trinity.h \
		lib/pkgconfig/trinity.pc share/doc/trinity/LICENSE-MIT share/doc/trinity/THIRD-PARTY-LICENSES.txt share/doc/trinity/sbom.cdx.json; do \
		grep -qx "$(C_TARBALL)/$$f" $(PKG)/c-tar.txt || { echo "tarball lacks $$f"; exit 1; }; done
	scripts/check_elf.sh $(C_INSTALL)/usr/local/lib/libtrinity.so.$(VERSION) "$$(ldd --version | sed -n '1s/.* //p')"
	@# Dynamic, through pkg-config; the program finds the library by its SONAME.
	PKG_CONFIG_PATH=$(C_INSTALL)/usr/local/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Werror examples/c/demo.c -o $(PKG)/demo-dynamic $$(pkg-config --cflags --libs trinity) -ljansson; \
	readelf -d $(PKG)/demo-dynamic | grep -q 'NEEDED.*\[libtrinity.so.1\]'; \
	LD_LIBRARY_PATH=$(C_INSTALL)/usr/local/lib $(PKG)/demo-dynamic examples/data/sample.md > /dev/null; \
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Werror examples/c/demo.c -o $(PKG)/demo-static \
		$$(pkg-config --cflags trinity) $$(pkg-config --static --libs trinity | sed 's/-ltrinity/-Wl,-Bstatic -ltrinity -Wl,-Bdynamic/') -ljansson; \
	! readelf -d $(PKG)/demo-static | grep -q 'libtrinity'; \
	$(PKG)/demo-static examples/data/sample.md > /dev/null
	@echo "c: the installed libtrinity linked through pkg-config, dynamically and with --static"
	@echo "c: 2 passed, 0 failed"

GO_PROXY := $(PKG)/goproxy
GO_APP := $(CARGO_TARGET_DIR)/installed/go-app
# Every build is v$(VERSION) at the same module-cache path, and go's module index (kept in
# GOCACHE) takes a cached module directory as immutable: a file added since the last run was
# missing from the build ("undefined: MonitorEvent"). No index for these builds.
test-go-module: export GODEBUG := goindex=0
test-go-module: setup-go build-c
	$(PACKAGE) go --staticlib $(LIBDIR)/libtrinity.a --out $(GO_PROXY) --strip
	rm -rf $(GO_APP) && mkdir -p $(GO_APP) && cp examples/go/main.go $(GO_APP)/
	cd $(GO_APP) && printf 'module example.com/app\n\ngo 1.24\n' > go.mod
	@# go get / build / vendor through the file proxy only; the module's own lib, no CGO_ flags.
	cd $(GO_APP) && GOPROXY=file://$(GO_PROXY) GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=1 \
		GOMODCACHE=$(GO_APP)/modcache go get example.invalid/trinity-core/bindings/go@v$(VERSION)
	cd $(GO_APP) && GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=1 GOMODCACHE=$(GO_APP)/modcache go build -o app .
	! readelf -d $(GO_APP)/app | grep -q libtrinity
	cd $(GO_APP) && ./app $(ROOT)/examples/data/sample.md > /dev/null
	cd $(GO_APP) && GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GOMODCACHE=$(GO_APP)/modcache go mod vendor
	test -f $(GO_APP)/vendor/example.invalid/trinity-core/bindings/go/lib/linux-amd64/libtrinity.a
	cd $(GO_APP) && GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=1 GOMODCACHE=$(GO_APP)/modcache \
		go build -mod=vendor -o app-vendored . && ./app-vendored $(ROOT)/examples/data/sample.md > /dev/null
	@# -tags trinity_pkgconfig: the installed libtrinity instead of the module's copy.
	@$(MAKE) --no-print-directory $(PKG)/.c
	rm -rf $(C_INSTALL)-go && $(PACKAGE) install --stage $(PKG)/stage/$(C_TARBALL) --prefix /usr --destdir $(C_INSTALL)-go
	cd $(GO_APP) && PKG_CONFIG_PATH=$(C_INSTALL)-go/usr/lib/pkgconfig GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
		CGO_ENABLED=1 GOMODCACHE=$(GO_APP)/modcache go build -mod=vendor -tags trinity_pkgconfig -o app-pc .
	readelf -d $(GO_APP)/app-pc | grep -q 'NEEDED.*\[libtrinity.so.1\]'
	cd $(GO_APP) && LD_LIBRARY_PATH=$(C_INSTALL)-go/usr/lib ./app-pc $(ROOT)/examples/data/sample.md > /dev/null
	@echo "go: the module from GOPROXY=file:// built with its static library, vendored, and with -tags trinity_pkgconfig"
	@echo "go: 3 passed, 0 failed"

# The sdist builds on its own (core/, cli/, bindings/python/, Cargo.lock inside): a dev-profile
# wheel from it, with the shared target directory, so only the workspace crates compile again.
test-sdist: setup-python
	rm -rf $(PKG)/sdist && mkdir -p $(PKG)/sdist
	PATH="$(VENV)/bin:$$PATH" maturin sdist -o $(PKG)/sdist
	tar -tzf $(PKG)/sdist/trinity_core-$(VERSION).tar.gz > $(PKG)/sdist/contents.txt
	for f in Cargo.lock core/Cargo.toml cli/src/lib.rs bindings/python/Cargo.toml core/data; do \
		grep -q "^trinity_core-$(VERSION)/$$f" $(PKG)/sdist/contents.txt || { echo "sdist lacks $$f"; exit 1; }; done
	cd $(PKG)/sdist && MATURIN_PEP517_ARGS="--profile dev" PATH="$(VENV)/bin:$$PATH" \
		$(PY) -m pip wheel -q --no-deps --no-build-isolation -w built trinity_core-$(VERSION).tar.gz
	ls $(PKG)/sdist/built/trinity_core-$(VERSION)-cp310-abi3-*.whl
	@echo "sdist: builds a wheel"
	@echo "sdist: 1 passed, 0 failed"
