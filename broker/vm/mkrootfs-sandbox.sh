#!/usr/bin/env bash
# broker/vm/mkrootfs-sandbox.sh OUT.cpio.gz AGENT
# A kernel-less guest image for the sandbox backend, used when the full guest
# image (make guest-image: build/guest/initramfs.cpio.gz, which needs the
# Debian cloud kernel) is not built. Same userland layout as guest/mkimage.sh:
# /sbin/burrow-agent, busybox-static and its applets, Debian's sftp-server,
# scp, ssh and ssh-add with the libraries ldd names (guest/imagelib.sh), a
# skeleton /etc. Owner 0:0, sorted, gzip -n.
set -euo pipefail
. "$(dirname "$0")/../../guest/imagelib.sh"
out=$(realpath -m "$1") agent=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/lib/openssh,etc/burrow/post-fork.d,dev,proc,sys,tmp,run,home,root,var/empty,mnt}
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"
install -m 0755 "$agent" "$stage/sbin/burrow-agent"
bb=$(command -v busybox)
{ ldd "$bb" 2>&1 || true; } | grep -q 'not a dynamic executable' || { echo "mkrootfs: $bb is not static (install busybox-static)" >&2; exit 1; }
install -m 0755 "$bb" "$stage/bin/busybox"
"$bb" --list-full | while read -r app; do
    [ "$app" = bin/busybox ] && continue
    [ -e "$stage/$app" ] || ln -s /bin/busybox "$stage/$app"
done
image_install_dynamic "$stage" $IMAGE_OPENSSH_BINS
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$stage/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n' > "$stage/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\n' > "$stage/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$stage/etc/hosts"
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -n > "$out.tmp"
mv "$out.tmp" "$out"
echo "sandbox image: $out"
