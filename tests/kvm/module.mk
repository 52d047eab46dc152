# tests/kvm/: tier test-kvm (the real VMM on the host's KVM with the test
# guest) and the boot benchmark. Needs /dev/kvm; fails saying so without it.
KVMTEST_BINS := $(addprefix $(B)/tests/kvm/,pause_test bench_boot linux_start irqfd_test memfile_test \
	virtio_host)
TEST_TIERS += test-kvm
BENCHES += bench-boot

$(B)/tests/kvm/%: $(B)/obj/tests/kvm/%.o $(B)/obj/tests/kvm/kvmtest.o $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(B)/obj/tests/kvm/kvmtest.o $(HOST_LIBS_A) $(HOST_LDLIBS)

.PHONY: test-kvm bench-boot
# The real-kernel cases need Debian's cloud kernel (fetched once into $(B)/kernel).
test-kvm: all $(KVMTEST_BINS) $(B)/tests/unit/vmm/test_bzimage $(VMM_TEST_KERNEL)
	B=$(B) tests/lib/kvm-tier test-kvm --timeout 1500 -- tests/kvm/run-tests $(B)

bench-boot: all $(KVMTEST_BINS)
	B=$(B) tests/lib/kvm-tier bench-boot --bench -- tests/kvm/run-bench $(B)
