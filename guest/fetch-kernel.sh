#!/usr/bin/env bash
# guest/fetch-kernel.sh DIR [PACKAGE]
# Fetch Debian's cloud kernel package and unpack it under DIR (never installed
# on the host): apt-get download + dpkg -x. The .deb stays cached in DIR/deb.
# PACKAGE defaults to what linux-image-cloud-amd64 depends on
# (linux-image-6.1.0-N-cloud-amd64). Leaves:
#   DIR/release   the kernel release (e.g. 6.1.0-56-cloud-amd64)
#   DIR/vmlinuz   -> root/boot/vmlinuz-RELEASE
#   DIR/modules   -> root/lib/modules/RELEASE
set -euo pipefail
dir=$1 pkg=${2:-}
if [ -z "$pkg" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
          awk '/Depends: linux-image-[0-9].*-cloud-amd64/ {print $2; exit}')
fi
case $pkg in
    linux-image-*-cloud-amd64) ;;
    *) echo "fetch-kernel: cannot resolve the cloud kernel package (got '$pkg'); run apt-get update" >&2; exit 1 ;;
esac
release=${pkg#linux-image-}
mkdir -p "$dir/deb"
deb=$(ls "$dir/deb/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    (cd "$dir/deb" && apt-get download "$pkg" >&2)
    deb=$(ls "$dir/deb/${pkg}_"*.deb | head -n1)
fi
rm -rf "$dir/root.tmp"
dpkg -x "$deb" "$dir/root.tmp"
[ -f "$dir/root.tmp/boot/vmlinuz-$release" ] || { echo "fetch-kernel: no vmlinuz in $deb" >&2; exit 1; }
rm -rf "$dir/root"
mv "$dir/root.tmp" "$dir/root"
ln -sfn "root/boot/vmlinuz-$release" "$dir/vmlinuz"
ln -sfn "root/lib/modules/$release" "$dir/modules"
echo "$release" > "$dir/release.tmp"
mv "$dir/release.tmp" "$dir/release"
echo "guest-kernel: $release in $dir"
