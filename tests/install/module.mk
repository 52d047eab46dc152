# tests/install/: tier test-install - what `make install` writes for an
# operator: the man pages (mandoc -Tlint clean, every burrow.ini key
# documented), the systemd unit (ExecStart and Documentation from PREFIX,
# what it names installed, `systemd-analyze security --offline` at most
# UNIT_EXPOSURE_MAX) and the docs. ~5 s, no root needed.
TEST_TIERS += test-install
DEB_PKGS += mandoc systemd
UNIT_EXPOSURE_MAX ?= 5.5

.PHONY: test-install
test-install: $(B)/bin/burrowd $(B)/bin/burrowctl
	B=$(B) UNIT_EXPOSURE_MAX=$(UNIT_EXPOSURE_MAX) tests/install/run-tests
