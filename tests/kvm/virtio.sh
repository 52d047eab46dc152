# tests/kvm/virtio.sh - the virtio part of tier test-kvm, sourced by
# run-tests (uses its $ctl, $tg, $tmp, $B and testlib.sh). The test guest's
# drivers (tests/testguest/vsock_mode.c, dev_modes.c) against the real VMM
# on the host's KVM; the host side is build/tests/kvm/virtio_host.
vh=$B/tests/kvm/virtio_host

# VMs that run until stopped are started without timeout(1), so $! is the
# VMM itself (vm boot runs the VM in-process) and SIGKILL reaches it.
# wait_line FILE PATTERN SECONDS PID : until FILE has PATTERN; 1 if PID died or time ran out.
wait_line() {
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q -- "$2" "$1" && return 0
        kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
stop_vm() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# ---- vsock: one VM (testguest.mode=echo), every host/guest direction ----
uds=$tmp/vsock.sock
"$vh" listen "${uds}_5000" $((1 << 20)) >"$tmp/listen.out" 2>&1 &
lpid=$!
for _ in $(seq 50); do [ -S "${uds}_5000" ] && break; sleep 0.1; done
"$ctl" vm boot --kernel "$tg" --cid 7 --vsock-uds "$uds" \
    --cmdline "testguest.mode=echo testguest.vsock_connect=5000,5001" \
    </dev/null >"$tmp/vsock.out" 2>"$tmp/vsock.err" &
vpid=$!
if wait_line "$tmp/vsock.out" "vsock echo cid=7 port=1024 ready" 30 $vpid; then
    t_check "vsock: 4 connections x 8 MiB host->guest->host, BLAKE2b of the echo equal" \
        timeout 60 "$vh" echo "$uds" 1024 $((8 << 20)) 4
    t_check "vsock: CONNECT to a port nobody listens on (1025) is closed without OK" \
        timeout 20 "$vh" refused "$uds" 1025
    t_check "vsock: 32 concurrent connections x 512 KiB, each echo's BLAKE2b equal" \
        timeout 60 "$vh" echo "$uds" 1024 $((512 << 10)) 32
    if wait $lpid &&
        grep -q "guest cid=7 connected to port 5000, 1048576 bytes echoed" "$tmp/listen.out" &&
        grep -q "testguest: vsock connect port=5000 ok" "$tmp/vsock.out"; then
        t_ok "vsock: guest-initiated connection reaches the host listener <uds>_5000, 1 MiB echoed"
    else
        t_fail "vsock guest connect" "$(tr '\n' ' ' <"$tmp/listen.out")"
    fi
    grep -q "testguest: vsock connect port=5001 refused" "$tmp/vsock.out" &&
        t_ok "vsock: guest connection to a host port without a listener gets RST" ||
        t_fail "vsock guest RST" "$(tr '\n' ' ' <"$tmp/vsock.out")"
    if kill -0 $vpid 2>/dev/null && ! grep -q FAIL "$tmp/vsock.out"; then
        t_ok "vsock: guest and VMM still running after every case"
    else
        t_fail "vsock survivor" "$(tail -n 3 "$tmp/vsock.out" "$tmp/vsock.err" | tr '\n' ' ')"
    fi
else
    t_fail "vsock echo guest" "no ready line: $(tail -n 3 "$tmp/vsock.out" "$tmp/vsock.err" | tr '\n' ' ')"
fi
stop_vm $vpid
kill $lpid 2>/dev/null
wait $lpid 2>/dev/null

# ---- blk: written, flushed, VMM killed with SIGKILL, read back from the image ----
img=$tmp/blk.img
truncate -s 1M "$img"
seed=$(( $(date +%s%N) % 1000000007 ))
"$ctl" vm boot --kernel "$tg" --disk "$img" \
    --cmdline "testguest.mode=blk testguest.blk_seed=$seed" </dev/null >"$tmp/blk.out" 2>"$tmp/blk.err" &
bpid=$!
if wait_line "$tmp/blk.out" "testguest: blk flushed first=8 count=256 seed=$seed id=" 30 $bpid; then
    kill -KILL $bpid
    wait $bpid 2>/dev/null
    t_check "blk: 256 sectors written and FLUSHed, VMM SIGKILLed, the image holds them" \
        "$vh" blkcheck "$img" "$seed"
else
    stop_vm $bpid
    t_fail "blk" "no flush line: $(tail -n 3 "$tmp/blk.out" "$tmp/blk.err" | tr '\n' ' ')"
fi

# ---- rng: two reads differ, and differ from another boot's ----
rng_ok=1
for n in 1 2; do
    boot rng$n 0 --cmdline "testguest.mode=rng" || { rng_ok=0; continue; }
    sed -n 's/^testguest: rng a=\([0-9a-f]\{64\}\) b=\([0-9a-f]\{64\}\)$/\1 \2/p' "$tmp/rng$n.out" \
        >"$tmp/rng$n.hex"
done
if [ $rng_ok -eq 1 ]; then
    read -r a1 b1 <"$tmp/rng1.hex"
    read -r a2 b2 <"$tmp/rng2.hex"
    if [ -n "${a1:-}" ] && [ -n "${a2:-}" ] &&
        [ "$(printf '%s\n' "$a1" "$b1" "$a2" "$b2" | sort -u | wc -l)" -eq 4 ]; then
        t_ok "rng: two 32-byte reads differ, and differ between two boots"
    else
        t_fail "rng" "reads not all distinct: $(cat "$tmp/rng1.out" "$tmp/rng2.out" | tr '\n' ' ')"
    fi
fi
