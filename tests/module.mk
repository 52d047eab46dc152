# tests/: unit tests are found by name (tests/unit/**/test_*.c -> one cmocka
# binary each). Shared test helpers live in tests/lib/*.c (libtest.a).
# Other tiers register themselves from tests/<tier>/module.mk via TEST_TIERS.
UNIT_TESTS += $(patsubst tests/unit/%.c,%,$(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort))
# Unit tests that need a real KVM (they create VMs): run by kvm-tier.
UNIT_KVM_TESTS := vmm/virtio/test_devices

# The include boundaries of the source tree (docs/architecture.md): `make test` runs it first.
.PHONY: check-layout
check-layout:
	@tests/lib/check-layout
