# tests/virtio/: the virtio-vsock benchmark (`make bench-vsock`, part of `make bench`):
# device path with a simulated guest next to a unix socketpair, same run.
BENCH_VSOCK := $(B)/tests/virtio/bench_vsock
BENCHES += bench-vsock
.PHONY: bench-vsock

$(BENCH_VSOCK): $(B)/obj/tests/virtio/bench_vsock.o $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LIBS_A) $(HOST_LDLIBS)

bench-vsock: $(BENCH_VSOCK)
	$(BENCH_VSOCK)
