# vmm/: the KVM VMM library (linked into burrowd and burrowctl).
VMM_SRCS += $(wildcard vmm/*.c vmm/*/*.c vmm/*/*/*.c)
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
