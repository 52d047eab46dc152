# vmm/: the KVM VMM library (linked into burrowd and burrowctl), and
# burrow-vmm (vmm/vmm_main.c), the program of each VM's VMM process: the VMM
# library alone, no libssh (build/lib/burrow, PREFIX/lib/burrow).
VMM_MAIN := vmm/vmm_main.c
VMM_SRCS += $(filter-out $(VMM_MAIN),$(wildcard vmm/*.c vmm/*/*.c vmm/*/*/*.c))
VMM_PROGRAM := $(B)/lib/burrow/burrow-vmm
ALL_TARGETS += $(VMM_PROGRAM)
VMM_LDLIBS = $(eval VMM_LDLIBS := $(call pkg_flags,--libs,libsodium libseccomp))$(VMM_LDLIBS) -lpthread
$(VMM_PROGRAM): $(B)/obj/$(VMM_MAIN:.c=.o) $(LIBVMM) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBVMM) $(LIBCOMMON) $(VMM_LDLIBS)
INSTALL_HOOKS += install-vmm
.PHONY: install-vmm
install-vmm: $(VMM_PROGRAM)
	install -d -m 0755 $(DESTDIR)$(PREFIX)/lib/burrow
	install -m 0755 $(VMM_PROGRAM) $(DESTDIR)$(PREFIX)/lib/burrow/burrow-vmm
DEB_PKGS += acpica-tools

# Debian's cloud kernel for the loader tests (test-kvm, the nested Linux
# boot case): apt-get download + dpkg -x into $(B)/kernel, never installed.
# $(B)/kernel/vmlinux is the ELF kernel unpacked from it (PVH entry tests).
VMM_TEST_KERNEL := $(B)/kernel/vmlinuz $(B)/kernel/vmlinux
.PHONY: vmm-test-kernel
vmm-test-kernel: $(VMM_TEST_KERNEL)
$(VMM_TEST_KERNEL) &:
	tests/kvm/fetch-kernel $(B)/kernel
DEB_PKGS += lz4
