# tests/net/: tier test-net: the host's VM networking policy
# (broker/vm/netpolicy.c through `burrowctl net apply`) in network namespaces
# made by the test: veth "VMs" on the bridge, an "outside" namespace with
# TCP/UDP servers. Never any address outside this machine. Needs root.
TEST_TIERS += test-net
DEB_PKGS += nftables iproute2
NETTOOL := $(B)/tests/net/nettool

$(NETTOOL): $(B)/obj/tests/net/nettool.o
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LDLIBS)

.PHONY: test-net
# Nested case 35 runs it in L1 (a server in a namespace).
NESTED_DEPS += $(NETTOOL)

test-net: all $(NETTOOL)
	B=$(B) tests/lib/kvm-tier test-net --timeout 900 -- tests/net/run-tests $(B)

# make bench-net: veth vs a bare TAP vs the virtio-net device path (sim guest), same run.
BENCHES += bench-net
BENCH_NET := $(B)/tests/net/bench_net
$(BENCH_NET): $(B)/obj/tests/net/bench_net.o $(HOST_LIBS_A)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LIBS_A) $(HOST_LDLIBS)
.PHONY: bench-net
bench-net: $(BENCH_NET)
	$(BENCH_NET)
