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
DEB_PKGS += musl-tools busybox-static cpio kmod openssh-sftp-server
