# Linux in Burrow's VMM through the PVH entry: the ELF vmlinux unpacked from
# Debian's cloud bzImage (its Xen PHYS32_ENTRY note), same checks as case 10,
# but it powers off through ACPI S5 (tests/kvm/nested-linux-boot.sh).
# Needs `make vmm-test-kernel` (build/kernel/vmlinux).
# timeout: 330
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/kvm/nested-linux-boot.sh" "$NESTED_BUILD/kernel/vmlinux" pvh poweroff
