#!/usr/bin/env bash
# tests/agent/check-image.sh B RESULT_DIR - tier test-image: build the default
# guest image (make guest-image; the kernel .deb is cached in B/guest/kernel)
# and check what is inside the archive itself.
set -u
. tests/lib/testlib.sh
B=$1
t_begin image "$2"
start=$(date +%s)
if ! out=$(make --no-print-directory B="$B" guest-image 2>&1); then
    t_fail build "make guest-image failed: $(printf '%s' "$out" | tail -n 3)"
    t_end; exit $?
fi
t_ok build
img=$B/guest/initramfs.cpio.gz
x=$(mktemp -d)
chmod 0755 "$x" # the chroot's / must be searchable by the test user
trap 'rm -rf "$x"' EXIT
(cd "$x" && gzip -dc "$OLDPWD/$img" | cpio -idm --quiet 2>/dev/null)
rel=$(cat "$B/guest/kernel/release")

t_check init-is-burrow-init cmp "$x/init" "$B/guest/burrow-init"
t_check agent-present cmp "$x/sbin/burrow-agent" "$B/guest/burrow-agent"
for f in init sbin/burrow-agent bin/busybox; do
    if readelf -lW "$x/$f" 2>/dev/null | grep -q INTERP; then
        t_fail "static-$f" "has an ELF interpreter"
    elif file "$x/$f" | grep -q 'statically linked'; then
        t_ok "static-$f"
    else
        t_fail "static-$f" "$(file "$x/$f")"
    fi
done
t_check busybox-applets test -L "$x/bin/sh" -a -L "$x/usr/bin/env" -a -L "$x/sbin/modprobe"
dep=$x/lib/modules/$rel/modules.dep
t_check modules-dep test -s "$dep"
missing=""
for m in virtio_ring virtio virtio_mmio vsock vmw_vsock_virtio_transport_common \
         vmw_vsock_virtio_transport virtio_blk virtio-rng virtio_balloon; do
    path=$(grep -o "^[^:]*/$m\.ko" "$dep" || true)
    if [ -z "$path" ] || [ ! -f "$x/lib/modules/$rel/$path" ]; then missing="$missing $m"; fi
done
if [ -z "$missing" ]; then t_ok modules-present; else t_fail modules-present "missing:$missing"; fi
t_check vsock-dep-order grep -q '^kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: .*vmw_vsock_virtio_transport_common.ko.*vsock.ko.*virtio.ko.*virtio_ring.ko' "$dep"
. guest/imagelib.sh
for bin in $IMAGE_OPENSSH_BINS; do
    ok=1
    [ -x "$x$bin" ] || ok=0
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        [ -e "$x$lib" ] || ok=0
    done
    name=$(basename "$bin")
    if [ $ok = 1 ]; then t_ok "$name-and-libs"; else t_fail "$name-and-libs" "missing"; fi
done
t_check skeleton test -d "$x/etc/burrow/post-fork.d" -a -f "$x/etc/passwd" -a -f "$x/etc/group"
t_check root-entry grep -q '^root:x:0:0:' "$x/etc/passwd"
# Reproducible: a rebuild gives the same bytes.
sum1=$(sha256sum < "$img")
touch guest/mkimage.sh
make --no-print-directory B="$B" guest-image >/dev/null 2>&1
sum2=$(sha256sum < "$img")
if [ "$sum1" = "$sum2" ]; then t_ok reproducible; else t_fail reproducible "rebuild differs"; fi
# The image's userland works: its agent, as a session, with its busybox shell.
if [ "$(id -u)" != 0 ]; then
    t_fail image-userland "needs root (chroot, namespaces, setuid to a test user)"
    t_end; exit $?
fi
if command -v unshare >/dev/null; then
    sock=$x/run/agent.sock
    mkdir -p "$x/run" "$x/home/imgtest"
    echo 'imgtest:x:61240:61240::/home/imgtest:/bin/sh' >> "$x/etc/passwd"
    chown 61240:61240 "$x/home/imgtest"
    unshare -m --propagation private sh -c "mount -t proc proc '$x/proc' && exec chroot '$x' /sbin/burrow-agent --listen unix:/run/agent.sock --control none" 2>/dev/null &
    apid=$!
    t_check image-userland "$B/tests/agent/agent-test" --exec "$sock" imgtest 'echo $((6*7)); id -u' "42
61240"
    kill $apid 2>/dev/null; wait $apid 2>/dev/null
fi
# burrow-init as PID 1 of fresh pid/mount/net/uts namespaces, chrooted into the
# image: it mounts, brings up lo, starts the agent (here through a wrapper that
# points it at a unix socket instead of vsock), restarts it when it dies, and
# on SIGTERM powers off (in a pid namespace reboot() ends init with SIGINT).
mv "$x/sbin/burrow-agent" "$x/sbin/burrow-agent.real"
printf '#!/bin/sh\nexec /sbin/burrow-agent.real --listen unix:/mnt/agent.sock --control none\n' > "$x/sbin/burrow-agent"
chmod 0755 "$x/sbin/burrow-agent"
rm -f "$x/mnt/agent.sock"
unshare -pfmnu --propagation private chroot "$x" /init > "$x.init.log" 2>&1 &
upid=$!
ipid=""
for _ in $(seq 50); do ipid=$(pgrep -P $upid | head -n1); [ -n "$ipid" ] && break; sleep 0.1; done
t_check init-guest-basics "$B/tests/agent/agent-test" --exec "$x/mnt/agent.sock" imgtest \
    'echo $((6*7)); cat /proc/1/comm; test -c /dev/pts/ptmx && echo pts; cat /sys/class/net/lo/flags' "42
init
pts
0x9"
apid=$(pgrep -P "${ipid:-0}" | head -n1)
if [ -n "$apid" ]; then
    rm -f "$x/mnt/agent.sock"
    kill -KILL "$apid"
    t_check init-restarts-agent "$B/tests/agent/agent-test" --exec "$x/mnt/agent.sock" imgtest 'echo again' again
else
    t_fail init-restarts-agent "no agent process under init ($(cat "$x.init.log"))"
fi
kill -TERM "${ipid:-0}" 2>/dev/null
gone=0
for _ in $(seq 50); do kill -0 "${ipid:-0}" 2>/dev/null || { gone=1; break; }; sleep 0.1; done
if [ $gone = 1 ] && grep -q "powering off" "$x.init.log"; then t_ok init-power-off; else t_fail init-power-off "$(tail -n 3 "$x.init.log")"; fi
wait $upid 2>/dev/null
rm -f "$x.init.log"
echo "image: $(( $(date +%s) - start )) s"
t_end
