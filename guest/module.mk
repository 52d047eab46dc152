# guest/: burrow-init, burrow-agent (static, musl) and the default image.
#
#   build/guest/burrow-init    PID 1 of the guest (init.c)
#   build/guest/burrow-agent   the agent (agent*.c + common/*.c), static musl;
#                              the same binary runs on the host in tests and in
#                              the broker's sandbox backend
#   make guest-kernel          Debian's cloud kernel, unpacked (never installed)
#   make guest-image           build/guest/initramfs.cpio.gz
GUEST_B := $(B)/guest
AGENT_SRCS := $(sort $(wildcard guest/agent*.c))
# The musl build of common/ (pattern rule $(B)/musl/%.o in the top Makefile).
GUEST_COMMON_OBJS := $(patsubst %.c,$(B)/musl/%.o,$(COMMON_SRCS))

$(GUEST_B)/burrow-agent: $(patsubst %.c,$(B)/musl/%.o,$(AGENT_SRCS)) $(GUEST_COMMON_OBJS)
	@mkdir -p $(@D)
	$(MUSL_CC) -static -o $@ $^

$(GUEST_B)/burrow-init: $(B)/musl/guest/init.o
	@mkdir -p $(@D)
	$(MUSL_CC) -static -o $@ $^

ALL_TARGETS += $(GUEST_B)/burrow-agent $(GUEST_B)/burrow-init
DEB_PKGS += musl-tools busybox-static cpio kmod openssh-sftp-server file util-linux

# ---- the guest kernel: Debian's cloud kernel, unpacked, never installed ----
# GUEST_KERNEL_PKG may name a specific linux-image-6.1.0-N-cloud-amd64.
GUEST_KERNEL_DIR := $(GUEST_B)/kernel
GUEST_KERNEL_PKG ?=
GUEST_VMLINUZ := $(GUEST_KERNEL_DIR)/vmlinuz       # symlink to boot/vmlinuz-RELEASE
GUEST_MODULES_DIR := $(GUEST_KERNEL_DIR)/modules   # symlink to lib/modules/RELEASE
GUEST_KERNEL_RELEASE = $(shell cat $(GUEST_KERNEL_DIR)/release 2>/dev/null)
GUEST_INITRD := $(GUEST_B)/initramfs.cpio.gz

.PHONY: guest-kernel guest-image
guest-kernel: $(GUEST_KERNEL_DIR)/release
$(GUEST_KERNEL_DIR)/release:
	guest/fetch-kernel.sh $(GUEST_KERNEL_DIR) $(GUEST_KERNEL_PKG)

guest-image: $(GUEST_INITRD)
$(GUEST_INITRD): $(GUEST_B)/burrow-init $(GUEST_B)/burrow-agent $(GUEST_KERNEL_DIR)/release \
                 guest/mkimage.sh guest/imagelib.sh
	guest/mkimage.sh $@ $(GUEST_B)/rootfs $(GUEST_B)/burrow-init $(GUEST_B)/burrow-agent \
		$(GUEST_KERNEL_DIR)

# ---- make install: the guest artifacts burrowd's backends use ----------------
# $(PREFIX)/lib/burrow/guest/{burrow-init,burrow-agent,initramfs.cpio.gz};
# burrowd falls back to that image when state_dir/sandbox/ has none.
BURROW_GUEST_DIR := $(PREFIX)/lib/burrow/guest
INSTALL_HOOKS += install-guest
.PHONY: install-guest
install-guest: $(GUEST_INITRD)
	install -d -m 0755 $(DESTDIR)$(BURROW_GUEST_DIR)
	install -m 0755 $(B)/guest/burrow-init $(B)/guest/burrow-agent $(DESTDIR)$(BURROW_GUEST_DIR)/
	install -m 0644 $(GUEST_INITRD) $(DESTDIR)$(BURROW_GUEST_DIR)/initramfs.cpio.gz

# ---- the Debian root filesystem builder (template build --rootfs debian) ----
# burrowctl finds it at ../lib/burrow/mkrootfs-debian.sh from its own binary
# (build/bin -> build/lib/burrow, PREFIX/bin -> PREFIX/lib/burrow).
ROOTFS_SCRIPT := $(B)/lib/burrow/mkrootfs-debian.sh
ALL_TARGETS += $(ROOTFS_SCRIPT)
DEB_PKGS += debootstrap e2fsprogs
$(ROOTFS_SCRIPT): guest/mkrootfs-debian.sh
	@mkdir -p $(@D)
	install -m 0755 $< $@
INSTALL_HOOKS += install-rootfs-builder
.PHONY: install-rootfs-builder
install-rootfs-builder:
	install -d -m 0755 $(DESTDIR)$(PREFIX)/lib/burrow
	install -m 0755 guest/mkrootfs-debian.sh $(DESTDIR)$(PREFIX)/lib/burrow/mkrootfs-debian.sh
