# tests/virtio/: the virtio-vsock benchmark (`make bench-vsock`, part of `make bench`):
# the device path with a simulated guest, and the real test guest under
# `burrowctl vm boot` on the host's KVM, each next to a unix socketpair
# measured in the same run (tests/virtio/run-bench).
BENCH_VSOCK := $(B)/tests/virtio/bench_vsock
BENCHES += bench-vsock
.PHONY: bench-vsock

$(BENCH_VSOCK): $(B)/obj/tests/virtio/bench_vsock.o $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LIBS_A) $(HOST_LDLIBS)

bench-vsock: all $(BENCH_VSOCK) $(B)/tests/kvm/virtio_host
	B=$(B) tests/lib/kvm-tier bench-vsock --bench -- tests/virtio/run-bench $(B)
