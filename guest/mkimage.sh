#!/usr/bin/env bash
# guest/mkimage.sh OUT.cpio.gz STAGING INIT AGENT KERNEL_DIR
# Build the default guest image (an initramfs) reproducibly:
#   /init                      burrow-init (static)
#   /sbin/burrow-agent         the agent (static)
#   /bin/busybox + applet links (busybox-static; `busybox --list-full`)
#   /lib/modules/REL/...       the virtio/vsock/blk/rng/balloon modules and
#                              their dependencies, modules.dep from depmod -b
#   /usr/lib/openssh/sftp-server, /usr/bin/{scp,ssh,ssh-add} with the shared
#                              libraries ldd names (glibc; guest/imagelib.sh)
#   /etc passwd, group, nsswitch.conf, hostname; /etc/burrow/post-fork.d/
# Every file gets mtime SOURCE_DATE_EPOCH (default 0), owner 0:0, and the
# archive lists paths sorted (cpio --reproducible, gzip -n), so the same
# inputs give the same bytes. A sorted listing goes to OUT.list.
set -euo pipefail
. "$(dirname "$0")/imagelib.sh"
out=$(realpath -m "$1") stage=$(realpath -m "$2") init=$3 agent=$4 kdir=$5
epoch=${SOURCE_DATE_EPOCH:-0}
release=$(cat "$kdir/release")
kmods=$kdir/modules
# Module names as modinfo spells them; rng-core and ext4 are built into the
# cloud kernel; overlay is for the root disk of --rootfs templates (init.c);
# failover, net_failover and virtio_net for the VM's network (docs/network.md).
MODULES="virtio_ring virtio virtio_mmio vsock vmw_vsock_virtio_transport_common
         vmw_vsock_virtio_transport virtio_blk virtio_rng rng-core virtio_balloon
         overlay failover net_failover virtio_net"

rm -rf "$stage"
mkdir -p "$stage"
# The staging tree is removed afterwards: the top Makefile includes every
# *.d under build/, and /etc/burrow/post-fork.d would be one.
trap 'rm -rf "$stage"' EXIT
cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin usr/lib/openssh lib/modules/"$release" \
         etc/burrow/post-fork.d dev proc sys tmp run home root var/empty mnt
chmod 1777 tmp
chmod 0700 root
cd - >/dev/null

install -m 0755 "$init" "$stage/init"
install -m 0755 "$agent" "$stage/sbin/burrow-agent"

# busybox and its applets (busybox --install -s would need the image's own
# /sbin, /usr/bin, /usr/sbin to exist: make the links from the list instead).
bb=$(command -v busybox)
file -L "$bb" | grep -q 'statically linked' || { echo "mkimage: $bb is not static (install busybox-static)" >&2; exit 1; }
install -m 0755 "$bb" "$stage/bin/busybox"
"$bb" --list-full | while read -r app; do
    [ "$app" = bin/busybox ] && continue
    [ -e "$stage/$app" ] || ln -s /bin/busybox "$stage/$app"
done

# Kernel modules and their dependencies (modinfo -F depends), recursively.
find_ko() {
    local pat=${1//[-_]/[-_]}
    (cd "$kmods" && find kernel -name "$pat.ko" | head -n1)
}
declare -A seen=()
add_module() {
    local name=$1 ko dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    ko=$(find_ko "$name")
    if [ -z "$ko" ]; then
        if grep -Eq "/${name//[-_]/[-_]}\.ko$" "$kmods/modules.builtin"; then return 0; fi
        echo "mkimage: module $name neither shipped nor built in" >&2
        exit 1
    fi
    mkdir -p "$stage/lib/modules/$release/$(dirname "$ko")"
    install -m 0644 "$kmods/$ko" "$stage/lib/modules/$release/$ko"
    for dep in $(/sbin/modinfo -F depends "$kmods/$ko" | tr ',' ' '); do
        add_module "$dep"
    done
}
for m in $MODULES; do add_module "$m"; done
for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$kmods/$f" ] && install -m 0644 "$kmods/$f" "$stage/lib/modules/$release/$f"
done
/sbin/depmod -b "$stage" "$release"
[ -s "$stage/lib/modules/$release/modules.dep" ] || { echo "mkimage: depmod made no modules.dep" >&2; exit 1; }

# sftp-server, scp, ssh, ssh-add: Debian's (dynamically linked against glibc) plus their libraries.
image_install_dynamic "$stage" $IMAGE_OPENSSH_BINS

# A skeleton /etc; the agent adds the user at fork time.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$stage/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n' > "$stage/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\n' > "$stage/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$stage/etc/hosts"
echo burrow > "$stage/etc/hostname"
touch "$stage/etc/burrow/post-fork.d/.keep"
chmod 0644 "$stage"/etc/passwd "$stage"/etc/group "$stage"/etc/nsswitch.conf "$stage"/etc/hosts "$stage"/etc/hostname

# Reproducible archive.
find "$stage" -exec touch -h -d "@$epoch" {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort > "$out.list.tmp")
(cd "$stage" && cpio -o -H newc --reproducible -R 0:0 --quiet < "$out.list.tmp") | gzip -n -9 > "$out.tmp"
mv "$out.list.tmp" "$out.list"
mv "$out.tmp" "$out"
echo "guest-image: $out ($(stat -c %s "$out") bytes, $(wc -l < "$out.list") entries, kernel $release)"
