#!/usr/bin/env bash
# guest/mkrootfs-debian.sh OUT.img WORKDIR INITRD CACHE_DIR [PACKAGES]
#
# Build a Debian root filesystem image for `burrowctl template build --rootfs
# debian` (docs/guest.md, "The Debian root filesystem"):
#   1. burrow-agent is taken from INITRD (the template's initramfs), so the
#      rootfs runs exactly the agent binary the initramfs carries;
#   2. the packages are downloaded once (debootstrap --make-tarball) into
#      CACHE_DIR/debootstrap-SUITE-KEY.tgz, KEY a hash of suite, mirror and
#      package list; later builds reuse it without the network;
#   3. debootstrap --variant=minbase --unpack-tarball installs SUITE into
#      WORKDIR/root with the base packages and PACKAGES (comma-separated,
#      Debian package names; burrowctl has validated them already);
#   4. the tree is configured (agent, /etc/burrow, locale, hostname) and
#      trimmed (documentation, apt caches);
#   5. mke2fs -d writes it into OUT.img (ext4, no journal: the disk is only
#      ever mounted read-only), checked with e2fsck -fn.
# One line per stage on stderr ("rootfs: ..."). Tools' own output goes to
# WORKDIR/*.log and its tail is shown on failure. The caller removes WORKDIR.
#
# Environment:
#   BURROW_DEBOOTSTRAP_TARBALL  use this debootstrap --make-tarball archive
#                               instead of the cache (no network; tests)
#   BURROW_DEBIAN_SUITE         default bookworm
#   BURROW_DEBIAN_MIRROR        default http://deb.debian.org/debian
#   BURROW_ROOTFS_TREE          a prepared root directory used instead of
#                               stages 2-3 (tests: configure + mke2fs only)
set -euo pipefail
[ $# -ge 4 ] && [ $# -le 5 ] || { echo "usage: $0 OUT.img WORKDIR INITRD CACHE_DIR [PACKAGES]" >&2; exit 2; }
out=$(realpath -m "$1") work=$(realpath -m "$2") initrd=$(realpath -m "$3") cache=$(realpath -m "$4")
extra=${5:-}
suite=${BURROW_DEBIAN_SUITE:-bookworm}
mirror=${BURROW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin

stage() { echo "rootfs: $*" >&2; }
die() { echo "rootfs: $*" >&2; exit 1; }
# run LOG CMD...: output to WORKDIR/LOG; on failure show its tail.
run() {
    local log=$work/$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 15 "$log" | sed 's/^/rootfs:   /' >&2
        die "$1 failed (log: $log)"
    fi
}

# Defence in depth: burrowctl validated these already (vmm/rootfs.c).
name_re='[a-z0-9][a-z0-9+.-]+'
[[ -z $extra || $extra =~ ^$name_re(,$name_re)*$ ]] || die "bad package list '$extra'"
[[ $suite =~ ^[a-z]+$ ]] || die "bad suite '$suite'"
[[ $mirror =~ ^https?://[A-Za-z0-9._:/-]+$ ]] || die "bad mirror '$mirror'"
base=bash,coreutils,less,nano,procps,iproute2,ca-certificates,openssh-sftp-server,openssh-client,locales,tmux
include=$base${extra:+,$extra}

for tool in debootstrap mke2fs e2fsck cpio gzip; do
    command -v $tool >/dev/null || die "$tool not found (apt-get install debootstrap e2fsprogs cpio gzip)"
done
mkdir -p "$work"
root=$work/root

stage "taking burrow-agent from $initrd"
mkdir -p "$work/initrd"
(cd "$work/initrd" && gzip -dc "$initrd" | cpio -id --quiet sbin/burrow-agent) ||
    die "cannot read $initrd (a gzip'd cpio initramfs)"
[ -f "$work/initrd/sbin/burrow-agent" ] || die "$initrd has no /sbin/burrow-agent (make guest-image)"

tree=${BURROW_ROOTFS_TREE:-}
tarball=${BURROW_DEBOOTSTRAP_TARBALL:-}
if [ -n "$tree" ]; then
    [ -d "$tree" ] || die "BURROW_ROOTFS_TREE=$tree: not a directory"
    stage "using the prepared tree $tree (BURROW_ROOTFS_TREE: no debootstrap)"
elif [ -n "$tarball" ]; then
    [ -f "$tarball" ] || die "BURROW_DEBOOTSTRAP_TARBALL=$tarball: no such file"
    stage "packages from BURROW_DEBOOTSTRAP_TARBALL=$tarball"
else
    key=$(printf '%s\n%s\n%s\n' "$suite" "$mirror" "$include" | sha256sum | cut -c1-16)
    tarball=$cache/debootstrap-$suite-$key.tgz
    if [ -f "$tarball" ]; then
        stage "packages from the cache: $tarball"
    else
        stage "downloading $suite packages from $mirror (cached as $tarball)"
        mkdir -p "$cache"
        tmp=$cache/.debootstrap-$suite-$key.$$.tgz
        trap 'rm -f "$tmp"' EXIT
        run download.log debootstrap --variant=minbase --include="$include" \
            --make-tarball="$tmp" "$suite" "$work/download" "$mirror"
        mv "$tmp" "$tarball"
        trap - EXIT
    fi
fi

if [ -n "$tree" ]; then
    cp -a "$tree" "$root"
else
    stage "installing Debian $suite with $include (debootstrap)"
    run debootstrap.log debootstrap --variant=minbase --include="$include" \
        --unpack-tarball="$(realpath "$tarball")" "$suite" "$root" "$mirror"
fi

stage "configuring (burrow-agent, /etc/burrow, locale, hostname)"
install -D -m 0755 "$work/initrd/sbin/burrow-agent" "$root/usr/sbin/burrow-agent"
[ -e "$root/sbin/burrow-agent" ] || { mkdir -p "$root/sbin" && ln -s ../usr/sbin/burrow-agent "$root/sbin/burrow-agent"; }
mkdir -p "$root/etc/burrow/post-fork.d" "$root/home" "$root/proc" "$root/sys" "$root/dev" \
         "$root/run" "$root/tmp"
# Login shell for users whose shell is /bin/sh (the [users] default_shell
# default): the agent reads this file (docs/guest.md).
echo /bin/bash >"$root/etc/burrow/default-shell"
echo burrow >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
if [ -x "$root/usr/sbin/locale-gen" ]; then
    touch "$root/etc/locale.gen"
    sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$root/etc/locale.gen"
    grep -q '^en_US.UTF-8 UTF-8' "$root/etc/locale.gen" || echo 'en_US.UTF-8 UTF-8' >>"$root/etc/locale.gen"
    run locale.log chroot "$root" /usr/sbin/locale-gen
    mkdir -p "$root/etc/default"
    echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
fi
: >"$root/etc/machine-id"
# Trim: apt's caches and lists, documentation (copyright files stay), logs,
# message translations other than English (~40 MB: a quarter of the image,
# copied and hashed at every template build).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/man "$root"/usr/share/info "$root"/var/log/*.log "$root"/var/log/apt/*
if [ -d "$root/usr/share/locale" ]; then
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -type d ! -name 'en' ! -name 'en_*' \
        -exec rm -rf {} +
fi
if [ -d "$root/usr/share/doc" ]; then
    find "$root/usr/share/doc" -type f ! -name copyright -delete
    find "$root/usr/share/doc" -depth -type d -empty -delete
fi

stage "making the ext4 image (mke2fs -d)"
kib=$(du -sk --apparent-size "$root" | cut -f1)
inodes=$(find "$root" -xdev | wc -l)
# Room for metadata and a little slack; the file stays sparse.
size_mib=$(( (kib * 12 / 10) / 1024 + 64 ))
rm -f "$out.tmp"
truncate -s "${size_mib}M" "$out.tmp"
run mke2fs.log mke2fs -q -F -t ext4 -O ^has_journal -L burrow-root -m 0 -N $((inodes * 2 + 4096)) \
    -E root_owner=0:0 -d "$root" "$out.tmp"
stage "checking the image (e2fsck -fn)"
run e2fsck.log e2fsck -fn "$out.tmp"
mv "$out.tmp" "$out"
stage "image $(basename "$out"): ${size_mib} MiB, $(du -k "$out" | cut -f1) KiB used, $inodes files"
