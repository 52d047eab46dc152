# tests/e2e/: end-to-end tier (real OpenSSH client against burrowd with the
# sandbox backend, run.sh; then the kvm-backend group with a test-guest
# template, kvm.sh) and the ssh benchmark against Debian's sshd.
SANDBOX_IMAGE := $(B)/sandbox/rootfs.cpio.gz
$(SANDBOX_IMAGE): $(B)/guest/burrow-agent broker/mkrootfs-sandbox.sh
	broker/mkrootfs-sandbox.sh $@ $(B)/guest/burrow-agent

TEST_TIERS += test-e2e
BENCHES += bench-ssh
DEB_PKGS += openssh-client openssh-server openssh-sftp-server busybox-static cpio python3
.PHONY: test-e2e bench-ssh
test-e2e: all $(SANDBOX_IMAGE)
	@rc=0; tests/e2e/run.sh $(B) || rc=1; B=$(B) tests/lib/kvm-tier e2e-kvm --timeout 1200 -- tests/e2e/kvm.sh $(B) || rc=1; exit $$rc
bench-ssh: all $(SANDBOX_IMAGE)
	tests/e2e/bench-ssh.sh $(B)

# A libssh client that asks "would this key do?" over and over (the attempt cap).
SSHPROBE := $(B)/tests/e2e/sshprobe
$(SSHPROBE): $(B)/obj/tests/e2e/sshprobe.o
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LDLIBS)
test-e2e: $(SSHPROBE)
# Nested case 04 runs a sandbox in L1 (cgroup v2).
NESTED_DEPS += $(SANDBOX_IMAGE)
