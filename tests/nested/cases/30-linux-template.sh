#!/usr/bin/env bash
# timeout: 420
# Real Linux as a template: `burrowctl template build` from the
# default image (Debian's cloud kernel + build/guest/initramfs.cpio.gz, 2
# vCPUs, 128 MiB) in L1: Linux boots in Burrow's VMM, binds the virtio-mmio
# devices from the DSDT, burrow-init loads the modules, burrow-agent connects
# to port 1025 and reports READY; the VM is snapshotted, written (sparse,
# read-only) and activated. Leaves the template in /tmp/burrow-linux for the
# later 3x cases. Needs `make guest-image`.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -x "$ctl" ] || fail "$ctl is not built"
kernel=$(readlink -f "$NESTED_BUILD/guest/kernel/vmlinuz") || fail "no guest kernel: run make guest-image"
initrd=$NESTED_BUILD/guest/initramfs.cpio.gz
[ -f "$kernel" ] && [ -f "$initrd" ] || fail "no guest kernel or image: run make guest-image"
rm -rf "$LX"
lx_init
lx_build_template 220 --name linux --kernel "$kernel" --initrd "$initrd" \
    --cmdline 'console=ttyS0 panic=-1 quiet' --mem "$LX_MEM" --vcpus 2
rc=$(sed -n 's/^[0-9]* status //p' build.log)
ms=$(ms_since "$t0")
expect_eq "template build exit status" "$rc" 0
build=$(sed -n 's/^[0-9]* \(linux-[0-9T]*\)$/\1/p' build.log | tail -n 1)
tdir=$LX/state/templates
[ -n "$build" ] || fail "template build printed no build name"
expect_eq "active template" "$(readlink "$tdir/linux")" "$build"
expect_eq "memory file mode" "$(stat -c %a "$tdir/$build/memory")" 444
used=$(du -k "$tdir/$build/memory" | cut -f1)
[ "$used" -lt $((LX_MEM * 1024)) ] || fail "memory file not sparse: $used KiB for $LX_MEM MiB"
grep -q '^vcpus = 2$' "$tdir/$build/manifest" || fail "manifest: $(cat "$tdir/$build/manifest")"
grep -q "^initrd = $initrd\$" "$tdir/$build/manifest" || fail "manifest names another initrd"
# Cold boot to READY: from "booting" to "pausing" (READY came in between).
boot=$(sed -n 's/^\([0-9]*\) template: booting.*/\1/p' build.log)
paused=$(sed -n 's/^\([0-9]*\) template: pausing.*/\1/p' build.log)
[ -n "$boot" ] && [ -n "$paused" ] || fail "template build did not print its steps"
echo $((paused - boot)) >"$LX/cold-ready-ms"
echo "linux-template: cold boot to READY $((paused - boot)) ms"
echo "linux-template: build $build in $ms ms; memory $used KiB on disk of $((LX_MEM * 1024))"
