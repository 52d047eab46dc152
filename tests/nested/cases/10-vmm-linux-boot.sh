# Linux in Burrow's VMM (L2 under kvm_amd): Debian's cloud bzImage, loaded as
# the bzImage itself (64-bit entry), boots to a busybox /init and reboots
# through the i8042; its log shows our e820 map, command line, ACPI tables,
# 2 vCPUs, COM1 and the RTC (tests/kvm/nested-linux-boot.sh).
# Needs `make vmm-test-kernel` (build/kernel/vmlinuz).
# timeout: 330
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/kvm/nested-linux-boot.sh" "$NESTED_BUILD/kernel/vmlinuz" bzimage reboot
