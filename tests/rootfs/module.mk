# tests/rootfs/: tier test-rootfs (`template build --rootfs debian` without
# debootstrap): the image builder on a small fake root (real mke2fs, checked
# with e2fsck and debugfs), then a --rootfs template of the test guest on the
# host's KVM (root disk slot, manifest checksum, forks, failures leave
# nothing). Needs root, /dev/kvm and the guest image (its agent goes into the
# rootfs). The real debootstrap + Linux boot is nested case 33.
TEST_TIERS += test-rootfs
.PHONY: test-rootfs
test-rootfs: all $(TESTGUEST) $(GUEST_INITRD)
	tests/rootfs/run-tests $(B)
