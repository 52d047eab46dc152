# tests/cluster/: the cluster tier (docs/cluster.md): three burrowd hosts, a
# three-member etcd and an NBD server in network namespaces; and its benchmark.
TEST_TIERS += test-cluster
BENCHES += bench-cluster
DEB_PKGS += bc
.PHONY: test-cluster bench-cluster
test-cluster: all $(SANDBOX_IMAGE)
	tests/cluster/run.sh $(B)
bench-cluster: all $(SANDBOX_IMAGE)
	tests/cluster/bench.sh $(B)
