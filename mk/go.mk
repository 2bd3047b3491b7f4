# Go: the cgo binding in bindings/go (tests with -race, fixture conformance) and examples/go.
# cgo finds include/trinity.h and libtrinity through these variables; the rpath lets tests run
# without LD_LIBRARY_PATH; -tags=trinity_dev picks that way of linking (bindings/go/link_dev.go).
# GOTOOLCHAIN=local: never download a toolchain; no modules are needed.
.PHONY: setup-go test-go demo-go

GO_ENV := CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -tags=trinity_dev" \
	CGO_CFLAGS="-I$(ROOT)/include" CGO_LDFLAGS="-L$(LIBDIR) -Wl,-rpath,$(LIBDIR)" \
	CONFORMANCE_REPORT="$(CARGO_TARGET_DIR)/conformance/go.json"

setup-go: setup-c ## Check for a Go toolchain (installs Debian's golang-go where none is found)
	@command -v go >/dev/null || { \
	  echo "setup-go: installing golang-go"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq golang-go >/dev/null; }

test-go: setup-go build-c ## Go: vet, then go test -race (unit, concurrency, fixture conformance)
	cd $(ROOT)/bindings/go && $(GO_ENV) go vet ./...
	cd $(ROOT)/bindings/go && $(GO_ENV) go test -race -count=1 -timeout 5m ./...
	cd $(ROOT)/examples/go && $(GO_ENV) go vet ./... && $(GO_ENV) go run . >/dev/null && $(GO_ENV) go run ./chat >/dev/null
	@echo "go: examples ran"

demo-go: setup-go build-c ## The Go examples: registry look-ups and token counts; chat, stream and a deadline against the mock server
	@cd $(ROOT)/examples/go && $(GO_ENV) go run .
	@echo
	@cd $(ROOT)/examples/go && $(GO_ENV) go run ./chat
