# tests/nested: the nested tier. An L1 Linux (Debian's generic kernel) under
# QEMU TCG with an emulated AMD SVM CPU loads kvm_amd and offers a real
# /dev/kvm; tests/nested/run runs a command in it; the tier runs
# tests/nested/cases/*.sh in one L1 boot (docs/testing.md).
DEB_PKGS += qemu-system-x86 busybox-static kmod cpio gzip xz-utils binutils util-linux apt coreutils

NESTED_KVM_SMOKE := $(B)/tests/nested/kvm-smoke
ALL_TARGETS += $(NESTED_KVM_SMOKE)
TEST_TIERS += test-nested

$(NESTED_KVM_SMOKE): tests/nested/kvm-smoke.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -o $@ $<

.PHONY: test-nested nested-image
# The L1 kernel + initramfs (tests/nested/run also builds it on demand).
nested-image:
	tests/nested/mkimage $(B)/nested

# Files cases need beyond `all`: a fragment adds `NESTED_DEPS += FILE...`
# (made first, from the recipe, so fragments read after this one count too).
NESTED_DEPS += $(VMM_TEST_KERNEL)

# NESTED_CASES=GLOB runs only the matching cases (e.g. NESTED_CASES='02-*').
test-nested: all $(NESTED_KVM_SMOKE)
	$(if $(strip $(NESTED_DEPS)),@$(MAKE) --no-print-directory $(NESTED_DEPS))
	B=$(B) NESTED_CASES='$(NESTED_CASES)' tests/nested/test-nested

# vm-exec: one exec session in a VM through its vsock unix socket
# ("CONNECT 1024", then the agent protocol via tests/agent/client.c); used by
# the Linux-guest cases 3x-*.
NESTED_VM_EXEC := $(B)/tests/nested/vm-exec
ALL_TARGETS += $(NESTED_VM_EXEC)
$(NESTED_VM_EXEC): $(B)/obj/tests/nested/vm_exec.o $(B)/obj/tests/agent/client.o $(B)/lib/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $^

# The real-Linux-guest cases alone: template build from the default
# image, forks with sessions. Needs the guest kernel and image.
NESTED_DEPS += $(GUEST_INITRD)
.PHONY: test-linux
test-linux: all $(NESTED_KVM_SMOKE)
	@$(MAKE) --no-print-directory $(NESTED_DEPS)
	B=$(B) NESTED_CASES='3*' tests/nested/test-nested

# Fork->READY of a real Linux template against its cold boot, in one L1 boot
# (cases 30 and 31 print the table; only same-run ratios mean anything there).
.PHONY: bench-linux
bench-linux: all $(NESTED_KVM_SMOKE)
	@$(MAKE) --no-print-directory $(NESTED_DEPS)
	@mkdir -p $(B)/nested
	tests/nested/run --timeout 900 --env LX_BENCH_RUNS=10 -- \
		tests/nested/run-cases $(B)/nested/bench-linux.results '3[0146]-*' \
		>$(B)/nested/bench-linux.log 2>&1; rc=$$?; \
		grep -h 'linux-bench\|linux-fork: idle\|linux-template: cold' $(B)/nested/bench-linux.log; \
		[ $$rc = 0 ] || { tail -n 5 $(B)/nested/bench-linux.log; exit 1; }
BENCHES += bench-linux
