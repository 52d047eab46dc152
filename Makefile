# Burrow top-level Makefile.
#
# This file owns the shared rules only. Each concern has a fragment,
# <dir>/module.mk, that appends to the variables below:
#
#   DEB_PKGS       Debian packages `make deps` installs
#   COMMON_SRCS    common/ sources, built for the host and (musl) for the guest
#   VMM_SRCS       vmm/ library sources            -> $(B)/lib/libvmm.a
#   BROKER_SRCS    broker/ library sources         -> $(B)/lib/libbroker.a
#   BURROWD_SRCS   sources only burrowd links      -> $(B)/bin/burrowd
#   BURROWCTL_SRCS sources only burrowctl links    -> $(B)/bin/burrowctl
#   ALL_TARGETS    extra things `make` builds (guest binaries, test guest)
#   UNIT_TESTS     tests/unit/<x>.c names (without .c) -> $(B)/tests/unit/<x>
#   TEST_TIERS     phony targets `make test` runs, in order
#   BENCHES        phony targets `make bench` runs
#   FUZZERS        tests/fuzz/<x>.c names -> $(B)/fuzz/<x> (clang, libFuzzer)
#   INSTALL_HOOKS  phony targets `make install` runs after the binaries
#
# Variants: B=build/asan SAN=1 builds everything with ASan+UBSan (`make check`).
#
# Two flavours of the binaries: $(B)/bin (what `make install` installs) and
# $(B)/test/bin, the same with test hooks (common/testhook.h: hostile-child
# modes, forced syscalls, backtraces) compiled in. Only the sources that use
# hooks (TESTHOOK_SRCS) are compiled twice; the unit tests and the tiers
# that drive hooks use the test flavour.

.DEFAULT_GOAL := all
.SECONDARY:
SHELL := /bin/bash

B      ?= build
SAN    ?= 0
PREFIX ?= /usr/local
DESTDIR ?=

CC      := gcc
MUSL_CC := musl-gcc
HOST_LIB_PKGS := libssh libsodium libseccomp libmicrohttpd

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
        -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith -Wvla
CFLAGS_BASE := -std=gnu11 $(WARN) -O2 -g -D_GNU_SOURCE -I. -fno-strict-aliasing \
               -fstack-protector-strong -MMD -MP
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=address,undefined
endif

# Library flags are asked of pkg-config when a recipe first needs them, never
# while this file is parsed: `make deps test` (and `make deps run`) installs
# pkg-config and the -dev packages in the same invocation, after parsing. The
# answer is kept (the eval turns each variable into a simple one); a failing
# pkg-config stops the build naming the fix instead of linking without -lssh.
pkg_flags = $(foreach w,$(shell pkg-config $1 $2 2>/dev/null || echo __pkg_config_failed__),$(if \
    $(filter __pkg_config_failed__,$w),$(error pkg-config $1 $2 failed: run `make deps` first),$w))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_flags,--cflags,$(HOST_LIB_PKGS) cmocka))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkg_flags,--libs,$(HOST_LIB_PKGS)))$(PKG_LIBS)
HOST_CFLAGS  = $(CFLAGS_BASE) $(PKG_CFLAGS)
HOST_LDLIBS  = $(PKG_LIBS) -liniparser -lpthread -lrt
# LDFLAGS from the environment (dpkg-buildflags: -z relro -z now) apply to the host binaries.
HOST_LDFLAGS = $(SAN_LDFLAGS) $(LDFLAGS)
GUEST_CFLAGS = -std=gnu11 $(WARN) -Os -g -D_GNU_SOURCE -I. -static -MMD -MP \
               -fno-strict-aliasing -fstack-protector-strong

DEB_PKGS :=
COMMON_SRCS :=
VMM_SRCS :=
BROKER_SRCS :=
BURROWD_SRCS :=
BURROWCTL_SRCS :=
ALL_TARGETS :=
UNIT_TESTS :=
TEST_TIERS :=
BENCHES :=
FUZZERS :=
INSTALL_HOOKS :=

# The host libraries, named before the fragments: their rules list them as
# prerequisites, which make expands as it reads each rule.
LIBCOMMON := $(B)/lib/libcommon.a
LIBVMM    := $(B)/lib/libvmm.a
LIBBROKER := $(B)/lib/libbroker.a
LIBTEST   := $(B)/lib/libtest.a
HOST_LIBS_A := $(LIBBROKER) $(LIBVMM) $(LIBCOMMON)
LIBCOMMON_T := $(B)/lib/test/libcommon.a
LIBVMM_T    := $(B)/lib/test/libvmm.a
LIBBROKER_T := $(B)/lib/test/libbroker.a
TEST_LIBS_A := $(LIBBROKER_T) $(LIBVMM_T) $(LIBCOMMON_T)

# Fragments, in dependency order. tests/ comes last so it can see everything.
include common/module.mk
include vmm/module.mk
include guest/module.mk
include broker/module.mk
-include etc/module.mk
-include $(sort $(wildcard tests/*/module.mk))
include tests/module.mk

host_obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
# The test flavour: hook sources from $(B)/obj-test, everything else shared.
TESTHOOK_SRCS := $(shell grep -l '"common/testhook.h"' $(COMMON_SRCS) $(VMM_SRCS) $(BROKER_SRCS) \
                   $(BURROWD_SRCS) $(BURROWCTL_SRCS) 2>/dev/null)
test_obj = $(foreach s,$(1),$(if $(filter $(s),$(TESTHOOK_SRCS)),$(B)/obj-test/$(s:.c=.o),$(B)/obj/$(s:.c=.o)))
musl_obj = $(patsubst %.c,$(B)/musl/%.o,$(1))

TESTLIB_SRCS := $(wildcard tests/lib/*.c)

.PHONY: all deps test check unit test-unit bench fuzz install clean format format-check
all: $(B)/bin/burrowd $(B)/bin/burrowctl $(B)/test/bin/burrowd $(B)/test/bin/burrowctl \
     $(ALL_TARGETS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c -o $@ $<

$(B)/obj-test/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -DBURROW_TEST_HOOKS -c -o $@ $<

$(B)/musl/%.o: %.c
	@mkdir -p $(@D)
	$(MUSL_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(call host_obj,$(COMMON_SRCS))
$(LIBVMM): $(call host_obj,$(VMM_SRCS))
$(LIBBROKER): $(call host_obj,$(BROKER_SRCS))
$(LIBTEST): $(call host_obj,$(TESTLIB_SRCS))
$(LIBCOMMON_T): $(call test_obj,$(COMMON_SRCS))
$(LIBVMM_T): $(call test_obj,$(VMM_SRCS))
$(LIBBROKER_T): $(call test_obj,$(BROKER_SRCS))
$(B)/lib/%.a:
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(B)/bin/burrowd: $(call host_obj,$(BURROWD_SRCS)) $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $(call host_obj,$(BURROWD_SRCS)) $(HOST_LIBS_A) $(HOST_LDLIBS)

$(B)/bin/burrowctl: $(call host_obj,$(BURROWCTL_SRCS)) $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $(call host_obj,$(BURROWCTL_SRCS)) $(HOST_LIBS_A) $(HOST_LDLIBS)

$(B)/test/bin/burrowd: $(call test_obj,$(BURROWD_SRCS)) $(TEST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $(call test_obj,$(BURROWD_SRCS)) $(TEST_LIBS_A) $(HOST_LDLIBS)

$(B)/test/bin/burrowctl: $(call test_obj,$(BURROWCTL_SRCS)) $(TEST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $(call test_obj,$(BURROWCTL_SRCS)) $(TEST_LIBS_A) $(HOST_LDLIBS)

# Unit tests: one cmocka binary per tests/unit/<path>.c, linked against all
# host libraries (static archives: only what a test uses is pulled in), in
# their test flavour (the hooks are tested too).
UNIT_BINS := $(patsubst %,$(B)/tests/unit/%,$(UNIT_TESTS))
$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(LIBTEST) $(TEST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBTEST) $(TEST_LIBS_A) $(HOST_LDLIBS) -lcmocka

# Unit tests that open /dev/kvm (UNIT_KVM_TESTS) are their own result,
# unit-kvm, and run where tests/lib/kvm-tier says: on the host's KVM, or in
# the nested L1 when the host has none. The rest run here.
UNIT_KVM_BINS := $(patsubst %,$(B)/tests/unit/%,$(UNIT_KVM_TESTS))
unit: $(UNIT_BINS)
test-unit: $(UNIT_BINS)
	@rc=0; tests/lib/run-unit $(B)/test-results/unit.result $(filter-out $(UNIT_KVM_BINS),$(UNIT_BINS)) || rc=1; \
	B=$(B) tests/lib/kvm-tier unit-kvm --timeout 600 -- \
		tests/lib/run-unit --label unit-kvm $(B)/test-results/unit-kvm.result $(UNIT_KVM_BINS) || rc=1; \
	exit $$rc

# The unit tier again under ASan + UBSan, in its own build tree (the nested
# L1's image stays in this tree's build/nested).
check:
	$(MAKE) B=build/asan SAN=1 NESTED_HOME=$(abspath $(B))/nested test-unit

# The style check, the include boundaries (check-layout), every tier that
# exists, then each tier's wall time and one closing summary line for CI.
test: all
	@rm -rf $(B)/test-results; mkdir -p $(B)/test-results
	@rc=0; for t in format-check check-layout check test-unit $(TEST_TIERS); do \
		s=$$SECONDS; $(MAKE) --no-print-directory $$t || rc=1; \
		echo "  $$t: $$((SECONDS - s)) s" >>$(B)/test-results/tier-times; \
	done; echo "wall time per tier:"; cat $(B)/test-results/tier-times; \
	tests/lib/summary $(B)/test-results build/asan/test-results; exit $$rc

bench: all
	@rc=0; for t in $(BENCHES); do $(MAKE) --no-print-directory $$t || rc=1; done; exit $$rc

# libFuzzer harnesses (clang). FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
               $(PKG_CFLAGS)
FUZZ_BINS := $(patsubst %,$(B)/fuzz/%,$(FUZZERS))
$(B)/fuzz/%: tests/fuzz/%.c $(COMMON_SRCS) $(VMM_SRCS) $(BROKER_SRCS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(HOST_LDLIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZERS); do \
		mkdir -p $(B)/fuzz/corpus-$$f; \
		tests/lib/run-fuzz $(B)/fuzz/$$f tests/fuzz/corpus/$$f $(B)/fuzz/corpus-$$f $(FUZZ_SECONDS) || exit 1; \
	done

# Debian packages; idempotent: apt runs only when something is missing.
DEB_PKGS += build-essential pkg-config libssh-dev libsodium-dev libseccomp-dev \
            libiniparser-dev libcmocka-dev clang clang-format e2fsprogs openssh-client
deps:
	@missing=""; for p in $(sort $(DEB_PKGS)); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all packages present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	$$sudo apt-get update -q && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing

# Only $(B)/bin: the test flavour is never installed.
install: all $(INSTALL_HOOKS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(B)/bin/burrowd $(DESTDIR)$(PREFIX)/sbin/burrowd
	install -m 0755 $(B)/bin/burrowctl $(DESTDIR)$(PREFIX)/bin/burrowctl

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files clean"

clean:
	rm -rf build

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
