# C: libtrinity (cdylib + staticlib, SONAME libtrinity.so.1) and include/trinity.h, the C
# conformance runner under AddressSanitizer + UBSan, and the examples under valgrind.
.PHONY: setup-c build-c test-c demo-c valgrind-c

C_PACKAGES := gcc g++ libjansson-dev valgrind pkg-config
C_CARGO_FLAGS := $(if $(filter debug,$(PROFILE)),,--profile $(PROFILE))
C_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -I$(ROOT)/include
C_LIBS := -L$(LIBDIR) -ltrinity -ljansson -lpthread -lm -Wl,-rpath,$(LIBDIR)
C_ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
C_CONF_DIR := $(ROOT)/tests/conformance/c
C_CONF_SRC := $(wildcard $(C_CONF_DIR)/*.c)
C_CONF_BIN := $(C_CONF_DIR)/build/conformance
C_DEMO_BIN := $(ROOT)/examples/c/build/demo
C_CHAT_BIN := $(ROOT)/examples/c/build/chat
C_REPORT := $(CARGO_TARGET_DIR)/conformance/c.json
# hashbrown keeps pointers into the middle of its tables, so the process-lifetime statics (BPE
# ranks, the global registry) read as "possibly lost"; a leaked string or handle is "definitely".
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

setup-c: ## Install the C toolchain pieces (gcc, g++, jansson, valgrind) where missing
	@missing=""; for p in $(C_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "setup-c: installing$$missing"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build-c: ## Build libtrinity.{so,a}, link the SONAME, check include/trinity.h is current
	cargo build -q -p trinity-c $(C_CARGO_FLAGS)
	ln -sf libtrinity.so $(LIBDIR)/libtrinity.so.1
	cargo run -q -p gen-header -- --check

# The prompt optimizer through the ABI, on the committed prompt corpus (tests/c/prompt.c).
C_PROMPT_BIN := $(CARGO_TARGET_DIR)/c-tests/prompt
$(C_PROMPT_BIN): $(ROOT)/tests/c/prompt.c $(ROOT)/tests/c/check.h $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $(C_ASAN) $< -o $@ $(C_LIBS)

# Open-model tokenizers through the ABI against their reference ids (tests/c/tokenizers.c).
C_TOKENIZERS_BIN := $(CARGO_TARGET_DIR)/c-tests/tokenizers
$(C_TOKENIZERS_BIN): $(ROOT)/tests/c/tokenizers.c $(ROOT)/tests/c/check.h $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $(C_ASAN) $< -o $@ $(C_LIBS)

# The shared small batch through the ABI against the mock server (tests/c/batch.c).
C_BATCH_BIN := $(CARGO_TARGET_DIR)/c-tests/batch
$(C_BATCH_BIN): $(ROOT)/tests/c/batch.c $(ROOT)/tests/c/check.h $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $(C_ASAN) $< -o $@ $(C_LIBS)

# Run guards through the ABI: limits, loops, guarded chats against the mock server, the event
# log (tests/c/guard.c).
C_GUARD_BIN := $(CARGO_TARGET_DIR)/c-tests/guard
$(C_GUARD_BIN): $(ROOT)/tests/c/guard.c $(ROOT)/tests/c/check.h $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $(C_ASAN) $< -o $@ $(C_LIBS)

$(C_CONF_BIN): $(C_CONF_SRC) $(C_CONF_DIR)/report.h $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $(C_ASAN) $(C_CONF_SRC) -o $@ $(C_LIBS)

$(C_DEMO_BIN): $(ROOT)/examples/c/demo.c $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $< -o $@ $(C_LIBS)

$(C_CHAT_BIN): $(ROOT)/examples/c/chat.c $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.so
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $< -o $@ $(C_LIBS)

# The same example linked against libtrinity.a, so the staticlib is known to link and run.
$(C_DEMO_BIN)-static: $(ROOT)/examples/c/demo.c $(ROOT)/include/trinity.h $(LIBDIR)/libtrinity.a
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) $< $(LIBDIR)/libtrinity.a -o $@ -ljansson -lpthread -ldl -lm

test-c: setup-c build-c ## C: header check, conformance + ABI cases under ASan/UBSan, example under valgrind
	cargo test -q -p trinity-c
	@echo '#include "trinity.h"' | g++ -x c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I$(ROOT)/include -
	@$(MAKE) --no-print-directory -B $(C_CONF_BIN) $(C_DEMO_BIN) $(C_DEMO_BIN)-static $(C_CHAT_BIN) $(C_PROMPT_BIN) $(C_TOKENIZERS_BIN) $(C_BATCH_BIN) $(C_GUARD_BIN)
	$(C_DEMO_BIN)-static $(ROOT)/examples/data/sample.md >/dev/null
	@mkdir -p $(dir $(C_REPORT))
	ASAN_OPTIONS=detect_leaks=1 $(C_CONF_BIN) $(ROOT)/tests/fixtures $(C_REPORT)
	ASAN_OPTIONS=detect_leaks=1 $(C_PROMPT_BIN) $(ROOT)/core/tests/fixtures/prompts
	ASAN_OPTIONS=detect_leaks=1 $(C_TOKENIZERS_BIN) $(ROOT)
	ASAN_OPTIONS=detect_leaks=1 $(C_BATCH_BIN) $(ROOT)
	ASAN_OPTIONS=detect_leaks=1 $(C_GUARD_BIN)
	$(VALGRIND) $(C_DEMO_BIN) $(ROOT)/examples/data/sample.md >/dev/null
	$(VALGRIND) $(C_CHAT_BIN) >/dev/null
	@echo "c: examples ran clean under valgrind"

valgrind-c: setup-c build-c ## The C conformance runner under valgrind (slow: minutes on a debug build)
	@$(MAKE) --no-print-directory -B $(C_CONF_BIN) C_ASAN=
	$(VALGRIND) $(C_CONF_BIN) $(ROOT)/tests/fixtures $(C_REPORT)

demo-c: setup-c build-c ## The C examples: registry look-ups and token counts; chat and stream against the mock server
	@$(MAKE) --no-print-directory $(C_DEMO_BIN) $(C_CHAT_BIN)
	@cd $(ROOT) && $(C_DEMO_BIN) examples/data/sample.md
	@echo
	@$(C_CHAT_BIN)
