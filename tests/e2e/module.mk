# tests/e2e/: end-to-end tier (real OpenSSH client against burrowd with the
# sandbox backend, run.sh; the operations group: metrics, audit, sessions,
# ops.sh; then the kvm-backend group with a test-guest template, kvm.sh, and
# its hibernation group, hibernate.sh) and the ssh benchmark against Debian's sshd.

TEST_TIERS += test-e2e
BENCHES += bench-ssh bench-login
DEB_PKGS += openssh-client openssh-server openssh-sftp-server busybox-static cpio python3 \
            python3-paramiko ssh-audit oathtool
# The operations scenario scrapes /metrics with curl and checks it with promtool (prometheus).
DEB_PKGS += curl prometheus
.PHONY: test-e2e bench-ssh bench-login
# e2e_pick_image prefers the full guest image once it is built: keep it current too.
test-e2e: all $(SANDBOX_IMAGE) $(if $(wildcard $(GUEST_INITRD)),$(GUEST_INITRD))
	@rc=0; tests/e2e/run.sh $(B) || rc=1; tests/e2e/ops.sh $(B) || rc=1; tests/e2e/parity.sh $(B) || rc=1; \
	B=$(B) tests/lib/kvm-tier e2e-kvm --timeout 1200 -- tests/e2e/kvm.sh $(B) || rc=1; \
	B=$(B) tests/lib/kvm-tier e2e-hibernate --timeout 900 -- tests/e2e/hibernate.sh $(B) || rc=1; exit $$rc
bench-ssh: all $(SANDBOX_IMAGE)
	tests/e2e/bench-ssh.sh $(B)
# A login into a new VM: warm pool vs fresh forks vs Debian's sshd (needs a KVM).
bench-login: all $(SANDBOX_IMAGE)
	B=$(B) tests/lib/kvm-tier bench-login --bench -- tests/e2e/bench-login.sh $(B)

# A libssh client that asks "would this key do?" over and over (the attempt cap).
SSHPROBE := $(B)/tests/e2e/sshprobe
$(SSHPROBE): $(B)/obj/tests/e2e/sshprobe.o
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(HOST_LDLIBS)
test-e2e: $(SSHPROBE)
# Nested case 04 runs a sandbox in L1 (cgroup v2).
NESTED_DEPS += $(SANDBOX_IMAGE)
