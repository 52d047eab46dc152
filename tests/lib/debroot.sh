# tests/lib/debroot.sh - a fresh Debian root for the tiers that need one
# (test-fresh: `make deps all` from nothing; test-deb: the .deb installed).
#
#   . tests/lib/debroot.sh
#   debroot_make ROOT CACHE LOG   debootstrap ROOT (bookworm, minbase +
#                                 DEBROOT_INCLUDE) from a tarball cached in
#                                 CACHE (downloaded once); 0 or 1
#   debroot_apt_setup ROOT        the host's apt sources and settings, resolv.conf,
#                                 and a policy-rc.d that starts no service
#   debroot_run ROOT CMD          CMD (a sh -c string) in ROOT: chroot in a
#                                 private mount namespace with /proc, /sys,
#                                 the host's .deb cache (nothing downloaded
#                                 twice) and, with DEBROOT_DEV=1, /dev
# Needs root, debootstrap and unshare.
DEBROOT_SUITE=bookworm
DEBROOT_MIRROR=http://deb.debian.org/debian
DEBROOT_INCLUDE=gcc,make,git,ca-certificates

debroot_make() {
    local root=$1 cache=$2 log=$3 key tarball
    mkdir -p "$cache" "$log"
    key=$(printf '%s\n%s\n%s\n' "$DEBROOT_SUITE" "$DEBROOT_MIRROR" "$DEBROOT_INCLUDE" | sha256sum | cut -c1-16)
    tarball=$cache/debootstrap-$DEBROOT_SUITE-$key.tgz
    if [ ! -f "$tarball" ]; then
        echo "debroot: downloading the base system once (cached as $tarball)"
        if debootstrap --variant=minbase --include="$DEBROOT_INCLUDE" --make-tarball="$tarball.new" \
            "$DEBROOT_SUITE" "$root.download" "$DEBROOT_MIRROR" >"$log/download.log" 2>&1; then
            mv "$tarball.new" "$tarball"
        else
            rm -f "$tarball.new"
        fi
        rm -rf --one-file-system "$root.download"
    fi
    [ -f "$tarball" ] && debootstrap --variant=minbase --include="$DEBROOT_INCLUDE" --unpack-tarball="$tarball" \
        "$DEBROOT_SUITE" "$root" "$DEBROOT_MIRROR" >"$log/debootstrap.log" 2>&1
}

debroot_apt_setup() {
    local root=$1
    # The machine's own apt sources and settings (a snapshot mirror needs its
    # Check-Valid-Until setting); no service starts inside the root.
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null
    cp /etc/apt/sources.list "$root/etc/apt/sources.list" 2>/dev/null
    cp /etc/apt/apt.conf.d/* "$root/etc/apt/apt.conf.d/" 2>/dev/null
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
}

debroot_run() {
    local root=$1 cmd=$2
    # shellcheck disable=SC2016
    local inside='
set -e
mount -t proc proc "$1/proc"
mount --rbind /sys "$1/sys"
[ "${DEBROOT_DEV:-0}" = 1 ] && mount --rbind /dev "$1/dev"
mkdir -p "$1/var/cache/apt/archives"
mount --bind /var/cache/apt/archives "$1/var/cache/apt/archives"
exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive sh -c "$2"'
    unshare -m --propagation private sh -c "$inside" _ "$root" "$cmd"
}
