# Virtio with a real Linux driver: Debian's cloud kernel in Burrow's
# VMM (L2 under kvm_amd) finds virtio-vsock, virtio-blk and virtio-rng through
# the DSDT and binds them; /dev/hwrng gives different bytes twice; a sector
# written to /dev/vda is on the host's image file; a guest connection to host
# port 5000 reaches `<uds>_5000`, one to a port without a socket gets RST; a
# host client on the VMM's unix socket ("CONNECT 1024") gets "OK <port>" and
# 3 MiB echoed back verbatim by a guest AF_VSOCK server.
# Needs `make vmm-test-kernel` (build/kernel: vmlinuz and its modules).
# timeout: 240
. "$NESTED_REPO/tests/nested/caselib.sh"
ctl=$NESTED_BUILD/bin/burrowctl
kernel=$NESTED_BUILD/kernel/vmlinuz
[ -x "$ctl" ] || fail "$ctl is not built"
[ -e "$kernel" ] || fail "$kernel is missing: run make vmm-test-kernel"
mods=$(echo "$NESTED_BUILD"/kernel/root/lib/modules/*/kernel)
[ -d "$mods" ] || fail "no kernel modules under $NESTED_BUILD/kernel/root: run make vmm-test-kernel"
bb=$(command -v busybox) || fail "busybox is not installed"
gcc -static -O2 -o vsock_echo "$NESTED_REPO/tests/nested/vsock_echo.c" ||
    fail "cannot build tests/nested/vsock_echo.c statically"

mkdir -p ir/bin ir/mod
cp "$bb" ir/bin/busybox && cp vsock_echo ir/bin/ || fail "cannot stage the initramfs"
order="virtio_ring virtio virtio_mmio virtio_blk virtio-rng vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
for m in $order; do
    f=$(find "$mods" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || fail "module $m.ko is missing"
    cp "$f" ir/mod/
done
cat >ir/init <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $order; do insmod /mod/\$m.ko || echo "virtio-case: insmod \$m failed"; done
sleep 1
for d in /sys/bus/virtio/drivers/*; do echo "virtio-case: driver \$(basename \$d) \$(ls \$d | grep -c virtio)"; done
echo "virtio-case: rng \$(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
echo "virtio-case: rng \$(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
echo "virtio-case: vda sectors \$(cat /sys/block/vda/size)"
echo "burrow-disk-test-pattern" | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null
/bin/vsock_echo guest-client 2 5000 ping-from-guest
/bin/vsock_echo guest-client 2 5999 nobody-home
/bin/vsock_echo guest-server 1024
reboot -f
INIT
chmod +x ir/init
(cd ir && find . | cpio -o -H newc 2>/dev/null | gzip -1) >initrd.gz || fail "cannot build the initramfs"
truncate -s 8M disk.img
uds=$PWD/v.sock
./vsock_echo host-echo "${uds}_5000" >host-echo.log 2>&1 &
"$ctl" vm boot --kernel "$kernel" --initrd initrd.gz --mem 256 \
    --cmdline "console=ttyS0 reboot=k panic=-1 quiet" --vsock-uds "$uds" --disk disk.img \
    >console.log 2>err.log </dev/null &
vm=$!
for _ in $(seq 1 360); do
    grep -q guest-server-ready console.log && break
    kill -0 $vm 2>/dev/null || break
    sleep 0.5
done
grep -q guest-server-ready console.log || {
    tail -n 20 console.log; cat err.log; kill $vm 2>/dev/null; fail "the guest vsock server never came up"; }
./vsock_echo host-connect "$uds" 1024 3145728 >connect.log 2>&1
crc=$?
cat connect.log
for _ in $(seq 1 120); do kill -0 $vm 2>/dev/null || break; sleep 0.5; done
kill -0 $vm 2>/dev/null && { kill $vm; fail "the VM did not power off after the test"; }
wait $vm
rc=$?
tr -d '\r' <console.log >log
grep "virtio-case\|guest-" log
expect_eq "host-connect (CONNECT 1024, 3 MiB echo)" "$crc" 0
expect_eq "vm boot exit status" "$rc" 0
for drv in virtio_blk virtio_rng vmw_vsock_virtio_transport; do
    grep -q "virtio-case: driver $drv 1" log || fail "driver $drv did not bind a device"
done
r1=$(sed -n 's/^virtio-case: rng //p' log | sed -n 1p)
r2=$(sed -n 's/^virtio-case: rng //p' log | sed -n 2p)
[ "${#r1}" = 32 ] && [ "${#r2}" = 32 ] && [ "$r1" != "$r2" ] || fail "hwrng gave '$r1' then '$r2'"
grep -q "virtio-case: vda sectors 16384" log || fail "vda has the wrong size"
expect_eq "image bytes written by the guest" "$(head -c 24 disk.img)" "burrow-disk-test-pattern"
grep -q "guest-client-got 'echo:ping-from-guest'" log || fail "guest -> <uds>_5000 failed"
grep -q "guest-client connect: Connection reset by peer" log || fail "no RST for a port without a socket"
grep -q "guest-server-echoed 3145728 bytes" log || fail "the guest server did not echo 3 MiB"
echo "Linux bound vsock, blk and rng; disk, hwrng and vsock both ways work"
