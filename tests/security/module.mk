# tests/security/: tier test-security: the jailed VMM on the
# host's KVM with the test guest (namespaces, pivot_root, uid, seccomp,
# SIGSYS on a forbidden syscall, log mode), burrowd's session confinement.
# Needs root and /dev/kvm; fails saying so without them. ~10 s.
TEST_TIERS += test-security

.PHONY: test-security
test-security: all $(SANDBOX_IMAGE)
	B=$(B) tests/lib/kvm-tier test-security --timeout 1200 -- tests/security/run-tests $(B)
