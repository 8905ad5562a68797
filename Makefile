# Rampart -- top-level build.
#
#   make            build build/rampart, build/librampart.a and build/trafficgen
#   make test       install missing Debian packages (as root), build, run every
#                   test: unit (plain and ASan+UBSan), end-to-end, validation,
#                   fuzz smoke
#   make validate   recall and false positives on the labelled corpora
#                   (../shared/data/validation and trafficgen), docs/validation.md
#   make demo       the live demo: demo API + nginx + module + serve, real attack
#                   tools against it, live decisions, dashboard URL (the quick start)
#   make demo-offline  a labelled generated log through rampart analyze
#   make bench      run the benchmarks (figures go to BENCHMARKS.md by hand)
#   make fuzz       build the libFuzzer targets (clang)
#   make format     clang-format every source file
#
# Plain make, no generator: sources are found by wildcard, so adding a
# detector or a test needs no edit here.

CC      ?= gcc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
           -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
INC     := -Iinclude -Isrc/common -Isrc/engine -Isrc/ingest -Isrc/detectors -Isrc/dtable -Isrc/store -Isrc/daemon
LIBS    := -lmicrohttpd -lsqlite3 -lyaml -ljansson -lhiredis -lcurl -lz -lm -lpthread
TEST_LIBS := -lcmocka

DEBIAN_PACKAGES := build-essential pkg-config libyaml-dev libjansson-dev zlib1g-dev \
                   libcmocka-dev libsqlite3-dev libmicrohttpd-dev clang libclang-rt-14-dev curl \
                   nginx nginx-dev libhiredis-dev redis-server redis-sentinel \
                   libcurl4-openssl-dev debhelper dpkg-dev fakeroot lintian prometheus

LIB_SRC  := $(sort $(wildcard src/common/*.c src/engine/*.c src/detectors/*.c src/ingest/*.c src/dtable/*.c \
                              src/store/*.c src/daemon/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
GEN_SRC  := $(sort $(wildcard tools/trafficgen/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
GEN_OBJ  := $(GEN_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit unit-san e2e validate fuzz fuzz-smoke demo bench deps clean format clang-build

all: $(BUILD)/rampart $(BUILD)/trafficgen

# The nginx dynamic module (Debian nginx-dev), built with nginx's own configure:
# build/nginx/ngx_http_rampart_module.so. See docs/nginx.md.
.PHONY: nginx-module
nginx-module:
	@bash nginx/build.sh $(BUILD)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(BUILD)/librampart.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The dashboard (web/dist, built by `make ui`) is embedded into the binary.
UI_FILES := $(shell find web/dist -type f 2>/dev/null)
$(BUILD)/gen/ui_assets.c: $(UI_FILES) tools/embed-ui.sh
	@bash tools/embed-ui.sh web/dist $@

$(BUILD)/obj/gen/ui_assets.o: $(BUILD)/gen/ui_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc/daemon -c $< -o $@

$(BUILD)/rampart: $(CLI_OBJ) $(BUILD)/obj/gen/ui_assets.o $(BUILD)/librampart.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/obj/gen/ui_assets.o $(BUILD)/librampart.a $(LIBS)

# Build web/dist (npm ci + bundle) when the dashboard sources exist.
.PHONY: ui
ui:
	@if [ -f web/build.sh ]; then bash web/build.sh; else echo "ui: no web/ yet"; fi

$(BUILD)/print-detectors: tools/print-detectors.c $(BUILD)/librampart.a
	$(CC) $(WARN) $(CFLAGS) $(INC) -Wno-missing-prototypes -o $@ $< $(BUILD)/librampart.a $(LIBS)

$(BUILD)/trafficgen: $(GEN_OBJ)
	$(CC) $(CFLAGS) -o $@ $(GEN_OBJ) -lm

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/librampart.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(INC) -Wno-missing-prototypes -o $@ $< $(BUILD)/librampart.a $(LIBS) $(TEST_LIBS)

unit: $(TEST_BIN)
	@bash tests/run-unit.sh $(BUILD)/tests

# The same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
unit-san:
	@$(MAKE) --no-print-directory BUILD=build-san OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  build-san/rampart build-san/trafficgen unit

# Everything again with clang, warnings as errors (gcc builds the rest).
clang-build:
	@if command -v clang >/dev/null; then \
	  $(MAKE) --no-print-directory BUILD=build-clang CC=clang build-clang/rampart build-clang/trafficgen && \
	  echo "clang: build ok (-Wall -Wextra -Werror)"; \
	else echo "clang: not installed"; exit 1; fi

e2e: all
	@DASH_REQUIRE_UI=1 bash tests/run-e2e.sh

# Labelled corpora scored by ../shared/eval/score.py; fails on any legitimate
# client stopped or a recall under tests/validate/floors.txt (docs/validation.md).
validate: all
	@bash tests/validate.sh

# Regenerate the dashboard screenshots in docs/img/ (headless Chromium).
.PHONY: screenshots
screenshots: ui all
	@DASH_SCREENSHOTS=1 DASH_REQUIRE_UI=1 bash tests/e2e/dashboard.sh

fuzz:
	@bash tests/fuzz/build.sh

fuzz-smoke: fuzz
	@bash tests/fuzz/smoke.sh

deps:
	@bash tools/install-deps.sh $(DEBIAN_PACKAGES)

test: deps
	@rm -f build/results
	@$(MAKE) --no-print-directory ui
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory clang-build
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-san
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory validate
	@$(MAKE) --no-print-directory fuzz-smoke
	@bash tests/summary.sh

# The live demo: the demo API behind nginx with the module, rampart serve, legitimate
# users and a partner, and real attack tools (needs root: it installs the tools and
# gives each actor its own network namespace). docs/demo.md.
demo: deps ui
	@$(MAKE) --no-print-directory all nginx-module
	@bash tools/install-deps.sh hydra ffuf gobuster dirb wfuzz sqlmap wrk slowhttptest wget iproute2
	@bash examples/demo-live.sh

# The offline demo: a labelled generated log through `rampart analyze`.
.PHONY: demo-offline
demo-offline: deps
	@$(MAKE) --no-print-directory all
	@bash examples/demo.sh

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: bench/%.c $(BUILD)/librampart.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(INC) -Wno-missing-prototypes -o $@ $< $(BUILD)/librampart.a $(LIBS)

bench: all $(BENCH_BIN)
	@bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz build-clang

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(GEN_OBJ:.o=.d)

# The demo API (examples/demo-api/): the small shop the attack demos and the
# end-to-end tests aim at, behind nginx. Not part of librampart.
DEMO_SRC := $(sort $(wildcard examples/demo-api/*.c))
DEMO_OBJ := $(DEMO_SRC:%.c=$(BUILD)/obj/%.o)

all: $(BUILD)/demo-api

$(BUILD)/demo-api: $(DEMO_OBJ)
	$(CC) $(CFLAGS) -o $@ $(DEMO_OBJ) -lmicrohttpd -ljansson -lpthread

-include $(DEMO_OBJ:.o=.d)
