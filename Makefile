# dataagent: one entry point.
#   make                 build dataagentd, dataagent-worker, dataagentctl
#   make check           unit + integration tests (as root)
#   make SANITIZE=1 check  the same under ASan + UBSan
#   make fuzz            run each fuzz target for FUZZ_SECONDS
#   make install DESTDIR=... PREFIX=...
#   make deb             a Debian package in build-deb/ (dpkg-buildpackage)
#   make deps            what the build and the demo need (Debian packages, npm peers)
#   make test-deps       the rest of what the tests need (make check pulls it)
#   make run             a demo on 127.0.0.1:8000 (foreground)
#   make fresh-check     the README's two commands in a fresh Debian 12 root
#   make bench           benchmarks (not tests)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/dataagent
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
# systemd looks in /usr/local/lib/... too; the Debian package (bookworm)
# puts the unit in /lib/systemd/system, where dh_installsystemd finds it.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR ?=
DEB_DIR ?= build-deb
# Where `make deps` installs the npm peers (world-readable: tenant UIDs
# run node from there).
PEERS_DIR ?= /opt/dataagent-peers
FUZZ_SECONDS ?= 30

SANITIZE ?= 0
# Each compiler and each sanitizer setting builds in a directory of its
# own, so `make CC=clang` never links gcc's objects.
CC_TAG = $(if $(findstring clang,$(notdir $(CC))),-clang)
ifeq ($(SANITIZE),1)
BUILD ?= build-san$(CC_TAG)
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
HARDEN = -fstack-protector-strong
else
BUILD ?= build$(CC_TAG)
SAN_FLAGS =
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif

CC ?= cc
PKGS = libevent libevent_openssl jansson sqlite3 openssl libseccomp libcap libmariadb libnftables
# The packages' flags are looked up once, when a recipe first needs them,
# not when make reads this file: in `make deps check` the -dev packages
# arrive only after make has started. A lookup that fails stops the build
# and names the step that installs them.
pkgconf = $(strip $(eval _pc := $(shell pkg-config $(1) $(PKGS) 2>&1 || echo __missing__))$(if \
	$(filter __missing__,$(_pc)),$(error pkg-config $(1) failed: $(filter-out __missing__,$(_pc)) \
	-- the build's Debian packages are missing: run make deps as root),$(_pc)))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkgconf,--libs))$(PKG_LIBS)
# What a goal of this run installs comes before anything is compiled or
# run (order-only, so it holds under -j): `make deps check` installs, then
# builds; `make check` pulls test-deps, a no-op once everything is there.
DEPS_FIRST = $(filter deps test-deps,$(MAKECMDGOALS))
ifneq ($(filter check,$(MAKECMDGOALS)),)
DEPS_FIRST += test-deps
endif

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter -Werror
CFLAGS ?= -O2 -g
# bookworm's dwz (dh_dwz in make deb) stops at the DWARF 5 sections
# clang 14 writes (.debug_addr); with clang, debug info is DWARF 4.
CC_DEBUG = $(if $(CC_TAG),-gdwarf-4)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(CC_DEBUG) $(WARN) $(HARDEN) -fPIE $(SAN_FLAGS) \
	-Icommon -Ipolicy -DLIBEXECDIR='"$(LIBEXECDIR)"' $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SAN_FLAGS)
LIBS = $(PKG_LIBS) -lhttp_parser

COMMON_SRC = $(wildcard common/*.c)
POLICY_SRC = $(wildcard policy/*.c)
SUP_SRC = $(wildcard supervisor/*.c)
WRK_SRC = $(wildcard worker/*.c)
REL_SRC = $(wildcard relay/*.c)
CTL_SRC = $(wildcard ctl/*.c)
UNIT_SRC = $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCOMMON = $(BUILD)/libcommon.a
LIBPOLICY = $(BUILD)/libpolicy.a
BINS = $(BUILD)/dataagentd $(BUILD)/dataagent-worker $(BUILD)/dataagent-relay \
	$(BUILD)/dataagentctl
UNITS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all check unit fuzz install deps test-deps run bench clean deb fresh-check
# Keep unit-test objects between runs.
.SECONDARY:
all: $(BINS)

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h policy/*.h supervisor/*.h worker/*.h relay/*.h ctl/*.h \
    tests/unit/*.h) | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isupervisor -Iworker -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^
$(LIBPOLICY): $(call obj,$(POLICY_SRC))
	$(AR) rcs $@ $^

$(BUILD)/dataagentd: $(call obj,$(SUP_SRC)) $(LIBPOLICY) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/dataagent-worker: $(call obj,$(WRK_SRC)) $(LIBPOLICY) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/dataagent-relay: $(call obj,$(REL_SRC)) $(LIBPOLICY) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/dataagentctl: $(call obj,$(CTL_SRC)) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests may also link the supervisor's store, secrets and rate
# limits (pure modules but for the store).
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/supervisor/store.o \
    $(BUILD)/obj/supervisor/db.o $(BUILD)/obj/supervisor/secrets.o \
    $(BUILD)/obj/supervisor/ratelimit.o $(LIBPOLICY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The hostile tenant's MCP server (tests/probe): links only jansson.
PROBE = $(BUILD)/tests/probe
$(PROBE): $(BUILD)/obj/tests/probe/probe.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ljansson

BADWORKER = $(BUILD)/tests/badworker
$(BADWORKER): $(BUILD)/obj/tests/probe/badworker.o $(LIBPOLICY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# A worker that records every byte it can read (relay.test.mjs).
SPYWORKER = $(BUILD)/tests/spyworker
$(SPYWORKER): $(BUILD)/obj/tests/probe/spyworker.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

unit: $(UNITS) $(PROBE) $(BADWORKER) $(SPYWORKER)

check: all unit | $(DEPS_FIRST)
	BUILD=$(BUILD) PEERS_DIR=$(PEERS_DIR) tests/run.sh

# Fuzz targets: clang + libFuzzer, each run for FUZZ_SECONDS
# (FUZZ_TARGETS="fuzz_a fuzz_b" runs only those). fuzz_sup_* link the
# supervisor (fuzz_sup_wmsg includes workers.c itself, for its static
# handler), fuzz_wrk_* the worker, but for main.c (libFuzzer's main) and
# what the target plays itself (the launcher).
FUZZ_TARGETS ?= $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-Icommon -Ipolicy -Isupervisor -Iworker -DLIBEXECDIR='"$(LIBEXECDIR)"' $(PKG_CFLAGS)
FUZZ_SUP_SRC = $(filter-out supervisor/main.c supervisor/workers.c,$(SUP_SRC)) $(POLICY_SRC)
FUZZ_WRK_SRC = $(filter-out worker/main.c worker/launcher.c,$(WRK_SRC)) $(POLICY_SRC)
fuzz: | $(DEPS_FIRST)
	@mkdir -p build-fuzz
	@set -e; for n in $(FUZZ_TARGETS); do \
		case $$n in \
		fuzz_sup_*) extra="$(FUZZ_SUP_SRC)" ;; \
		fuzz_wrk_*) extra="$(FUZZ_WRK_SRC)" ;; \
		*) extra= ;; \
		esac; \
		clang $(FUZZ_CFLAGS) -o build-fuzz/$$n tests/fuzz/$$n.c $$extra \
			$(COMMON_SRC) $(PKG_LIBS) -lhttp_parser; \
		mkdir -p build-fuzz/corpus-$$n; \
		cp tests/fuzz/corpus/$$n/* build-fuzz/corpus-$$n/ 2>/dev/null || true; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
			build-fuzz/corpus-$$n; \
	done

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(BUILD)/dataagentd $(DESTDIR)$(SBINDIR)/dataagentd
	install -m 0755 $(BUILD)/dataagentctl $(DESTDIR)$(BINDIR)/dataagentctl
	install -m 0755 $(BUILD)/dataagent-worker $(DESTDIR)$(LIBEXECDIR)/dataagent-worker
	install -m 0755 $(BUILD)/dataagent-relay $(DESTDIR)$(LIBEXECDIR)/dataagent-relay
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/dataagentd.8 man/dataagentctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/dataagent.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	sed 's|^ExecStart=/usr/sbin/dataagentd|ExecStart=$(SBINDIR)/dataagentd|' \
		systemd/dataagent.service > $(DESTDIR)$(SYSTEMDUNITDIR)/dataagent.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/dataagent.service
	install -m 0644 systemd/dataagent.sysusers $(DESTDIR)$(SYSUSERSDIR)/dataagent.conf
	install -m 0644 systemd/dataagent.tmpfiles $(DESTDIR)$(TMPFILESDIR)/dataagent.conf
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 packaging/bash-completion/dataagentctl $(DESTDIR)$(BASHCOMPDIR)/dataagentctl
	install -d $(DESTDIR)$(SYSCONFDIR)/dataagent
	install -m 0644 packaging/dataagent.conf $(DESTDIR)$(SYSCONFDIR)/dataagent/dataagent.conf.example
	install -d $(DESTDIR)$(SYSCONFDIR)/dataagent/policy
	install -m 0644 policy/*.policy $(DESTDIR)$(SYSCONFDIR)/dataagent/policy/

deps:
	PEERS_DIR=$(PEERS_DIR) tests/install-deps.sh demo
test-deps: | $(filter deps,$(MAKECMDGOALS))
	PEERS_DIR=$(PEERS_DIR) tests/install-deps.sh test

# The README's two commands, verbatim, in a Debian 12 root made by
# mmdebstrap from a git archive of HEAD (tests/fresh.sh; ~15 minutes).
fresh-check:
	tests/fresh.sh

run: all | $(DEPS_FIRST)
	PEERS_DIR=$(PEERS_DIR) BUILD=$(BUILD) tests/demo.sh

bench: all | $(DEPS_FIRST)
	PEERS_DIR=$(PEERS_DIR) BUILD=$(BUILD) bench/run.sh

# A .deb from a clean copy of the tree (no build output, no git), built
# by packaging/debian/rules with PREFIX=/usr; lands in $(DEB_DIR)/.
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -cf - --exclude=./.git --exclude=./build --exclude=./build-san \
		--exclude=./build-fuzz --exclude=./$(DEB_DIR) \
		--exclude=./demo-state . | tar -C $(DEB_DIR)/src -xf -
	cp -R packaging/debian $(DEB_DIR)/src/debian
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf build build-san build-clang build-san-clang build-fuzz
