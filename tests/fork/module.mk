# tests/fork/: tier test-fork (templates, snapshots and copy-on-write forks
# of the test guest on the host's KVM), the bench-fork benchmark and the
# snapshot fuzzer. Needs /dev/kvm; fails saying so without it.
FORKTEST_BINS := $(B)/tests/fork/restore_check $(B)/tests/fork/cold_boot $(B)/tests/fork/old_state
TEST_TIERS += test-fork
DEB_PKGS += python3
BENCHES += bench-fork bench-hibernate
FUZZERS += snapshot
FUZZ_SRCS_snapshot := vmm/snapshot.c vmm/snapshot_vcpu.c common/buf.c common/buf_alloc.c \
                      common/err.c common/errmsg.c common/log.c

$(B)/tests/fork/%: $(B)/obj/tests/fork/%.o $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LIBS_A) $(HOST_LDLIBS)

.PHONY: test-fork bench-fork bench-hibernate
test-fork: all $(FORKTEST_BINS)
	B=$(B) tests/lib/kvm-tier test-fork --timeout 1500 -- tests/fork/run-tests $(B)

bench-fork: all $(FORKTEST_BINS)
	B=$(B) tests/lib/kvm-tier bench-fork --bench -- tests/fork/run-bench $(B)

# Hibernation of a test-guest fork (hibernate time, image size, resume -> READY
# against a fresh fork and a cold boot); NESTED=1 adds the Linux numbers of
# nested case 37 (with cases 30 and 33 it needs), run in one L1 boot.
bench-hibernate: all $(FORKTEST_BINS)
	B=$(B) tests/lib/kvm-tier bench-hibernate --bench -- tests/fork/run-bench-hibernate $(B)
	$(if $(NESTED),@$(MAKE) --no-print-directory $(NESTED_DEPS) && mkdir -p $(B)/nested && \
	tests/nested/run --timeout 1500 -- tests/nested/run-cases $(B)/nested/bench-hibernate.results '3[037]-*' \
		>$(B)/nested/bench-hibernate.log 2>&1; rc=$$?; \
	grep -h 'linux-hibernate\|linux-template: cold' $(B)/nested/bench-hibernate.log; \
	[ $$rc = 0 ] || { tail -n 5 $(B)/nested/bench-hibernate.log; exit 1; })
