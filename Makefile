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
LIBS    := -lmicrohttpd -lsqlite3 -lyaml -ljansson -lhiredis -lcurl -lcrypto -lz -lm -lpthread
TEST_LIBS := -lcmocka

DEBIAN_PACKAGES := build-essential pkg-config libyaml-dev libjansson-dev zlib1g-dev \
                   libcmocka-dev libsqlite3-dev libmicrohttpd-dev clang libclang-rt-14-dev curl \
                   nginx nginx-dev libhiredis-dev redis-server redis-sentinel \
                   libcurl4-openssl-dev libssl-dev debhelper dpkg-dev fakeroot lintian prometheus

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

# --- Installation and packages (docs/install.md) ----------------------------
# make install PREFIX=/usr/local [DESTDIR=...]   the daemon, its man pages, unit,
#   user, sysctl setting and configuration; the nginx module and its load snippet
# make uninstall                                 the same files removed (the
#   configuration, the store and the user are kept, as apt remove keeps them)
# make deb                                       build-deb/rampart_*.deb and
#   build-deb/libnginx-mod-http-rampart_*.deb with Debian's tooling (debian/)
.PHONY: man install uninstall deb

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/rampart
SYSCONFDIR ?= /etc
# Debian 12 keeps the packaged units in /lib; systemd also reads /usr/local/lib.
LIBDIR_SYSTEMD := $(if $(filter /usr,$(PREFIX)),/lib,$(PREFIX)/lib)
UNITDIR    ?= $(LIBDIR_SYSTEMD)/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCTLDIR  ?= $(PREFIX)/lib/sysctl.d
NGINX_MODULES_DIR ?= $(PREFIX)/lib/nginx/modules
NGINX_SNIPPET_DIR ?= $(PREFIX)/share/nginx/modules-available

man: $(BUILD)/man/rampart.8
$(BUILD)/man/rampart.8 $(BUILD)/man/rampart.yaml.5: $(BUILD)/rampart examples/rampart.yaml tools/gen-man.sh
	@bash tools/gen-man.sh $(BUILD)/rampart $(BUILD)/man >/dev/null

# The configuration as installed: examples/rampart.yaml (the defaults, one
# source) with the admin token the installation creates.
$(BUILD)/etc/rampart.yaml: examples/rampart.yaml
	@mkdir -p $(dir $@)
	sed -e 's|^  token_file: "" *# e.g. /etc/rampart/admin.token$$|  token_file: $(SYSCONFDIR)/rampart/admin.token   # created at installation|' $< > $@.tmp
	@grep -q '^  token_file: $(SYSCONFDIR)/rampart/admin.token' $@.tmp || { echo "examples/rampart.yaml: no token_file line to set" >&2; exit 1; }
	@mv $@.tmp $@

# Paths in the unit are the package's (/usr/bin, /etc/rampart): rewritten for others.
INSTALL_SED := -e 's|/usr/bin/rampart|$(BINDIR)/rampart|g' -e 's|/etc/rampart|$(SYSCONFDIR)/rampart|g' \
               -e 's|/usr/share/doc/rampart|$(DOCDIR)|g'

install: $(BUILD)/rampart man $(BUILD)/etc/rampart.yaml nginx-module
	install -D -m 0755 $(BUILD)/rampart $(DESTDIR)$(BINDIR)/rampart
	install -D -m 0644 $(BUILD)/man/rampart.8 $(DESTDIR)$(MANDIR)/man8/rampart.8
	install -D -m 0644 $(BUILD)/man/rampart.yaml.5 $(DESTDIR)$(MANDIR)/man5/rampart.yaml.5
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	sed $(INSTALL_SED) examples/rampart.service > $(DESTDIR)$(UNITDIR)/rampart.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rampart.service
	install -D -m 0644 examples/rampart.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/rampart.conf
	install -D -m 0644 examples/rampart.sysctl.conf $(DESTDIR)$(SYSCTLDIR)/60-rampart.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	@# never over an operator's configuration
	if [ ! -e $(DESTDIR)$(SYSCONFDIR)/rampart/rampart.yaml ]; then \
	  install -D -m 0644 $(BUILD)/etc/rampart.yaml $(DESTDIR)$(SYSCONFDIR)/rampart/rampart.yaml; fi
	install -D -m 0644 $(BUILD)/nginx/ngx_http_rampart_module.so $(DESTDIR)$(NGINX_MODULES_DIR)/ngx_http_rampart_module.so
	install -d $(DESTDIR)$(NGINX_SNIPPET_DIR)
	echo 'load_module $(NGINX_MODULES_DIR)/ngx_http_rampart_module.so;' > $(DESTDIR)$(NGINX_SNIPPET_DIR)/mod-http-rampart.conf
	@# on this machine (no DESTDIR): the user, the token, the directories, the
	@# kernel setting -- what the package's postinst does, by the same script
	if [ -z "$(DESTDIR)" ]; then \
	  RAMPART_SYSUSERS=$(SYSUSERSDIR)/rampart.conf RAMPART_SYSCTL=$(SYSCTLDIR)/60-rampart.conf \
	  RAMPART_ETC=$(SYSCONFDIR)/rampart sh debian/rampart.postinst configure; \
	  echo "installed. nginx: ln -s $(NGINX_SNIPPET_DIR)/mod-http-rampart.conf /etc/nginx/modules-enabled/50-mod-http-rampart.conf"; \
	  echo "then: systemctl daemon-reload && systemctl enable --now rampart (docs/install.md)"; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rampart $(DESTDIR)$(MANDIR)/man8/rampart.8 $(DESTDIR)$(MANDIR)/man5/rampart.yaml.5 \
	  $(DESTDIR)$(UNITDIR)/rampart.service $(DESTDIR)$(SYSUSERSDIR)/rampart.conf $(DESTDIR)$(SYSCTLDIR)/60-rampart.conf \
	  $(DESTDIR)$(NGINX_MODULES_DIR)/ngx_http_rampart_module.so $(DESTDIR)$(NGINX_SNIPPET_DIR)/mod-http-rampart.conf
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept: $(SYSCONFDIR)/rampart, /var/lib/rampart and the user rampart (userdel rampart to remove it)"

# The packages are built in a copy of the tree under build-deb/ (dpkg-buildpackage
# writes them to the parent of the tree it builds); debian/rules builds with this
# Makefile (BUILD=debian/build), so nothing is built twice over.
DEB_DIR ?= build-deb
deb: ui
	@bash tools/make-deb.sh $(DEB_DIR)
