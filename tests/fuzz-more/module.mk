# tests/fuzz-more/: more libFuzzer harnesses for outside input (issue 10),
# built and run by `make fuzz` like tests/fuzz/'s (seed corpora in
# tests/fuzz/corpus/<name>/, where `make fuzz` looks), and the fuzz-smoke
# tier: every harness in FUZZERS for FUZZ_SMOKE_SECONDS (default 3) each.
#   userini  a user record (user.ini) through broker/users/userdb.c
#   blk      virtio-blk requests from a hostile guest (vmm/virtio/blk.c)
FUZZERS += userini blk
FUZZ_SRCS_userini := broker/users/userdb.c broker/config.c broker/config_ini.c broker/fsutil.c broker/users/totp.c \
                     broker/cli.c $(CONFIG_VALUE_SRCS) $(COMMON_SRCS)
FUZZ_SRCS_blk := vmm/virtio/blk.c vmm/virtio/mmio.c vmm/virtio/queue.c vmm/gmem.c \
                 common/log.c common/err.c common/buf.c

# These sources live here, not in tests/fuzz/: explicit rules beat the pattern rule.
$(B)/fuzz/userini: tests/fuzz-more/userini.c $(FUZZ_SRCS_userini)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_userini) $(HOST_LDLIBS)
$(B)/fuzz/blk: tests/fuzz-more/blk.c $(FUZZ_SRCS_blk) tests/unit/vmm/virtio/sim_driver.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_blk) $(HOST_LDLIBS)

FUZZ_SMOKE_SECONDS ?= 3
TEST_TIERS += fuzz-smoke
.PHONY: fuzz-smoke
# FUZZERS is complete only once every fragment is read: expand it in the recipe.
fuzz-smoke:
	$(MAKE) --no-print-directory $(FUZZ_BINS)
	tests/fuzz-more/run-smoke $(B) $(FUZZ_SMOKE_SECONDS) $(FUZZERS)
