# tests/rootfs/: tier test-rootfs (`template build --rootfs debian` without
# debootstrap): the image builder on a small fake root (real mke2fs, checked
# with e2fsck and debugfs), then a --rootfs template of the test guest on the
# host's KVM (root disk slot, manifest checksum, forks, failures leave
# nothing). Needs root, /dev/kvm and the guest image (its agent goes into the
# rootfs). The real debootstrap + Linux boot is nested case 33.
TEST_TIERS += test-rootfs
.PHONY: test-rootfs
test-rootfs: all $(TESTGUEST) $(GUEST_INITRD)
	B=$(B) tests/lib/kvm-tier test-rootfs --timeout 900 -- tests/rootfs/run-tests $(B)

# The Debian root filesystem image nested case 33 boots (L1 has neither the
# time nor, necessarily, the network for debootstrap): built on the host
# before the L1 boot, from the download cached in $(B)/rootfs/cache (a cold
# run pays ~30 s of download + ~45 s of debootstrap and mke2fs; later runs
# ~45 s, and nothing while the initramfs is unchanged). The scratch tree is
# made outside $(B): the top Makefile includes every *.d file under $(B), and
# a Debian root has some (invoke-rc.d).
DEBIAN_ROOTFS_IMG := $(B)/rootfs/debian.img
NESTED_DEPS += $(DEBIAN_ROOTFS_IMG)
.PHONY: debian-rootfs
debian-rootfs: $(DEBIAN_ROOTFS_IMG)
$(DEBIAN_ROOTFS_IMG): $(GUEST_INITRD) guest/mkrootfs-debian.sh
	@mkdir -p $(@D)
	@rm -f $@.new
	work=$$(mktemp -d /tmp/burrow-rootfs-img.XXXXXX) && \
	guest/mkrootfs-debian.sh $@.new $$work/w $(GUEST_INITRD) $(B)/rootfs/cache; \
	rc=$$?; rm -rf --one-file-system $$work; [ $$rc = 0 ] && mv $@.new $@
