# tests/fuzz/: libFuzzer harnesses (`make fuzz`, FUZZ_SECONDS each); one line per harness.
# broker: authorized_keys and the config file.
FUZZERS += authkeys config
FUZZ_SRCS_authkeys := broker/users/authkeys.c $(COMMON_SRCS)
# OpenSSH user certificates a client presents.
FUZZERS += usercert
FUZZ_SRCS_usercert := broker/users/usercert.c broker/users/authkeys.c $(COMMON_SRCS)
FUZZ_SRCS_config := broker/config.c broker/config_ini.c broker/cli.c $(CONFIG_VALUE_SRCS) $(COMMON_SRCS)
# virtio: the split-virtqueue walker and the vsock packet handler.
FUZZERS += fuzz_virtqueue fuzz_vsock
FUZZ_SRCS_fuzz_virtqueue := vmm/virtio/queue.c vmm/gmem.c common/log.c common/err.c
FUZZ_SRCS_fuzz_vsock := vmm/virtio/vsock/vsock.c vmm/virtio/vsock/vsock_rx.c vmm/virtio/vsock/vsock_host.c \
                        vmm/virtio/mmio.c vmm/virtio/queue.c vmm/gmem.c common/buf.c \
                        common/log.c common/err.c common/vsockconn.c
# broker: master <-> session messages.
FUZZERS += mproto
FUZZ_SRCS_mproto := broker/mproto.c $(COMMON_SRCS)
# virtio-net: guest chains on rx/tx/ctrl and backend frames.
FUZZERS += fuzz_net
FUZZ_SRCS_fuzz_net := vmm/virtio/net/net.c vmm/virtio/net/net_io.c vmm/virtio/net/ratelimit.c vmm/virtio/mmio.c \
                      vmm/virtio/queue.c vmm/gmem.c common/buf.c common/clock.c common/log.c common/err.c
# hibernation: the hibernated image (header, state, index, checksum).
FUZZERS += hibernate
FUZZ_SRCS_hibernate := vmm/hibernate_image.c vmm/snapshot.c vmm/names.c common/buf.c \
                       common/buf_alloc.c common/err.c common/errmsg.c common/fdio.c common/log.c
# virtio-balloon: inflate/deflate/stats/reporting chains, targets, snapshots.
FUZZERS += fuzz_balloon
FUZZ_SRCS_fuzz_balloon := vmm/virtio/balloon.c vmm/virtio/mmio.c vmm/virtio/queue.c vmm/gmem.c \
                          common/buf.c common/log.c common/err.c
# A user record (user.ini) through broker/users/userdb.c.
FUZZERS += userini
FUZZ_SRCS_userini := broker/users/userdb.c broker/config.c broker/config_ini.c broker/fsutil.c \
                     broker/users/totp.c broker/cli.c $(CONFIG_VALUE_SRCS) $(COMMON_SRCS)
# virtio-blk requests from a hostile guest (vmm/virtio/blk.c), driven like the unit tests' driver.
FUZZERS += blk
FUZZ_SRCS_blk := vmm/virtio/blk.c vmm/virtio/mmio.c vmm/virtio/queue.c vmm/gmem.c \
                 common/log.c common/err.c common/buf.c
$(B)/fuzz/blk: tests/unit/vmm/virtio/sim_driver.h

# Tier fuzz-smoke: every harness in FUZZERS for FUZZ_SMOKE_SECONDS (default 3)
# over its seed corpus (tests/fuzz/corpus/<name>/); `make fuzz` is the long run.
FUZZ_SMOKE_SECONDS ?= 3
TEST_TIERS += fuzz-smoke
.PHONY: fuzz-smoke
# FUZZERS is complete only once every fragment is read: expand it in the recipe.
fuzz-smoke:
	$(MAKE) --no-print-directory $(FUZZ_BINS)
	tests/fuzz/run-smoke $(B) $(FUZZ_SMOKE_SECONDS) $(FUZZERS)
