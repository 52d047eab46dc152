# tests/density/: bench-density: how many idle VMs a host holds.
#   host part (tests/density/run-bench): idle test-guest forks on the host's
#     KVM, 1 / 10 / 100 / 1000 at once, KSM off and on: private, PSS, the
#     VMM's own overhead, host memory and CPU per fork, fork time;
#   nested part (tests/density/linux-bench.sh, in one L1 boot): two 256 MiB
#     Linux templates; 20 forks of each allocating, touching and freeing
#     64 MiB, with the balloon's free page reporting and without (a template
#     whose guest never binds virtio_balloon): private memory before, at the
#     peak, 10 s after.
# DENSITY_NESTED=0 skips the nested part.
BENCHES += bench-density
DENSITY_NESTED ?= 1
.PHONY: bench-density
bench-density: all
	B=$(B) tests/lib/kvm-tier bench-density --bench -- tests/density/run-bench $(B)
	@if [ "$(DENSITY_NESTED)" = 1 ]; then \
		$(MAKE) --no-print-directory $(NESTED_DEPS) $(NESTED_KVM_SMOKE) && mkdir -p $(B)/nested && \
		tests/nested/run --timeout 2400 -- bash -c 'mkdir -p /tmp/density-bench && cd /tmp/density-bench && \
			NESTED_REPO=$(CURDIR) NESTED_SCRATCH=/tmp/density-bench $(CURDIR)/tests/density/linux-bench.sh' \
			>$(B)/nested/bench-density.log 2>&1; rc=$$?; \
		grep -h 'linux-density' $(B)/nested/bench-density.log; \
		[ $$rc = 0 ] || { tail -n 15 $(B)/nested/bench-density.log; exit 1; }; \
	fi
