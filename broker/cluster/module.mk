# broker/cluster/: Burrow on several hosts (docs/cluster.md): etcd for the
# user database, membership and VM ownership; the host-to-host SSH link;
# home disks on NBD. Linked into libbroker.a with the rest of broker/.
BROKER_SRCS += $(wildcard broker/cluster/*.c)
HOST_LIB_PKGS += libcurl json-c libnbd fuse3
DEB_PKGS += libcurl4-openssl-dev libjson-c-dev libnbd-dev libfuse3-dev fuse3
# The cluster tier's engines: a three-member etcd, an NBD server with a write log.
DEB_PKGS += etcd-server etcd-client nbdkit iproute2 openssl
