# tests/deb/: the Debian package. `make deb` runs `dpkg-buildpackage -us -uc
# -b` in this checkout (debian/rules builds with PREFIX=/usr and reuses
# build/) and moves what it made from .. to $(B)/deb/. Tier test-deb: the
# package's contents, lintian (no errors), then the .deb installed with apt
# into a fresh debootstrap root (tests/lib/debroot.sh, the download cached
# as for test-fresh), where `burrowctl --version` and `burrowd -t` run.
# Needs root. A few minutes the first time (the kernel for the guest image,
# the base system), about a minute after.
TEST_TIERS += test-deb
DEB_PKGS += debhelper dpkg-dev lintian fakeroot debootstrap
DEB_OUT := $(B)/deb
DEB_FILES = burrow_$(BURROW_BASE_VERSION)_amd64.deb burrow-dbgsym_$(BURROW_BASE_VERSION)_amd64.deb \
            burrow_$(BURROW_BASE_VERSION)_amd64.buildinfo burrow_$(BURROW_BASE_VERSION)_amd64.changes

.PHONY: deb test-deb
deb:
	dpkg-buildpackage -us -uc -b
	@mkdir -p $(DEB_OUT)
	@for f in $(DEB_FILES); do [ ! -f ../$$f ] || mv ../$$f $(DEB_OUT)/; done
	@echo "deb: $(DEB_OUT)/burrow_$(BURROW_BASE_VERSION)_amd64.deb"

test-deb: deb
	tests/deb/run-tests $(B) $(DEB_OUT)/burrow_$(BURROW_BASE_VERSION)_amd64.deb
