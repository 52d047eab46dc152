# tests/fresh/: tier test-fresh - the README's one-invocation set-up on a
# fresh Debian: a debootstrap root with only what a new machine image has
# (gcc, make, git), the source tree copied in, then `make deps all` in one
# make invocation inside it (no pkg-config, no -dev package beforehand).
# Fails if the Makefile asks pkg-config for flags before `deps` ran. The
# debootstrap download is cached in $(B)/fresh/cache. Needs root.
TEST_TIERS += test-fresh
DEB_PKGS += debootstrap util-linux

.PHONY: test-fresh
test-fresh:
	tests/fresh/run-tests $(B)
