#!/usr/bin/env bash
# tests/density/linux-bench.sh - bench-density, nested part: runs INSIDE L1
# (tests/nested/linuxlib.sh's state). Two Linux templates from the default
# image, DENSITY_LINUX_MEM (default 256) MiB each, 2 vCPUs: "denson", and
# "densoff" with module_blacklist=virtio_balloon on the kernel command line:
# its guest never binds the balloon, so nothing is reported (the same-run
# baseline: Linux before this issue). For each: N (default 20) idle forks;
# in each allocate and touch 64 MiB (a dd buffer, started in one guest after
# the other and held HOLD s, so they overlap) and free it; anonymous memory (the copy-on-write copies and the VMM's heap:
# what a fork costs) and private memory per fork before, at the peak and
# 10 s after the free. Idle reclaim and KSM are off (reporting alone).
# Prints one table; only same-run ratios mean anything under TCG.
set -uo pipefail
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
N=${DENSITY_LINUX_FORKS:-20}
MEM=${DENSITY_LINUX_MEM:-256}
HOLD=${DENSITY_HOLD:-120} # seconds each burst holds its 64 MiB
kernel=$(readlink -f "$NESTED_BUILD/guest/kernel/vmlinuz")
initrd=$NESTED_BUILD/guest/initramfs.cpio.gz
trap lx_kill_vms EXIT
# tests/nested/run's watchdog: a round's quiet stretches (20 forks, the bursts) are long.
[ -d /.nested/io ] && echo 900 >/.nested/io/watchdog
lx_init
for t in denson densoff; do
    extra=""
    [ $t = densoff ] && extra=" module_blacklist=virtio_balloon"
    lx_build_template 360 --name $t --kernel "$kernel" --initrd "$initrd" \
        --cmdline "console=ttyS0 panic=-1 quiet$extra" --mem "$MEM" --vcpus 2
    grep -q "status 0" build.log || fail "template $t did not build: $(tail -n 3 build.log)"
    echo "linux-density: template $t built ($(sed -n 's/^\([0-9]*\) status 0$/\1/p' build.log) ms)"
done
cfg=$NESTED_SCRATCH/bench.ini
# mean_mem: mean anonymous and private KiB per running fork, and how many there are
mean_mem() {
    "$ctl" -c "$cfg" vm list --json | python3 -c '
import json, sys
v = [x for x in json.load(sys.stdin) if x["state"] == "running"]
n = max(len(v), 1)
print(sum(x["anon_kib"] for x in v) // n, sum(x["private_kib"] for x in v) // n, len(v))'
}
# round TEMPLATE: sets n and idle/peak/after (anon) and pidle/ppeak/pafter (private), KiB per fork
round() {
    printf '[vm]\ntemplate = %s\npool_size = 0\nidle_reclaim = 0\nksm = no\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
        "$1" "$LX" "$LX_RUN" >"$cfg"
    "$ctl" -c "$cfg" vm fork --count "$N" >forks.log 2>&1 || { lx_all_fork_logs; fail "$1: $(tail -n 1 forks.log)"; }
    sleep 20
    read -r idle pidle n < <(mean_mem)
    local a p m t0 started=0
    peak=0 ppeak=0
    # Under TCG 20 guests cannot all open a session at once (vm-exec wants
    # OPENED within 10 s): one after another, each burst detached in its
    # guest and held HOLD s, so they overlap.
    t0=$SECONDS
    for m in "$LX_RUN"/vm/*/meta; do
        "$vm_exec" "${m%/meta}/vsock.sock" guest "setsid sh -c 'dd if=/dev/zero bs=64M count=1 2>/dev/null |
            { sleep $HOLD; cat >/dev/null; }' </dev/null >/dev/null 2>&1 &" && started=$((started + 1))
    done
    local spread=$((SECONDS - t0))
    echo "linux-density: $1: $started bursts started in $spread s"
    # The peak: the highest mean seen until the first bursts end.
    while [ $((SECONDS - t0)) -lt "$HOLD" ]; do
        read -r a p _ < <(mean_mem)
        [ "$a" -gt "$peak" ] && peak=$a ppeak=$p
        sleep 1
    done
    # Every burst freed (the last started `spread` s after the first; 5 s for dd), then 10 s.
    while [ $((SECONDS - t0)) -lt $((spread + HOLD + 5)) ]; do sleep 1; done
    sleep 10
    read -r after pafter _ < <(mean_mem)
    echo "linux-density: $1: $n forks, anon $idle/$peak/$after KiB, private $pidle/$ppeak/$pafter KiB (idle/peak/10 s after)"
    lx_kill_vms
}
round denson
n_on=$n idle_on=$idle peak_on=$peak after_on=$after pidle_on=$pidle ppeak_on=$ppeak pafter_on=$pafter
round densoff
n_off=$n idle_off=$idle peak_off=$peak after_off=$after pidle_off=$pidle ppeak_off=$ppeak pafter_off=$pafter
row() { # NAME WHAT N IDLE PEAK AFTER BASE_AFTER
    awk -v name="$1" -v what="$2" -v n="$3" -v i="$4" -v p="$5" -v a="$6" -v b="$7" 'BEGIN {
        printf "linux-density: %-24s %-7s %3d forks  idle %7d  peak %7d  10 s after %7d KiB  returned %5.1f%% of the burst  after/idle %5.2fx  after vs off %5.2fx\n",
            name, what, n, i, p, a, (p - a) * 100 / (p > i ? p - i : 1), a / (i > 0 ? i : 1), a / (b > 0 ? b : 1) }'
}
echo "linux-density: per fork (mean), $MEM MiB guests, 64 MiB allocated, touched and freed in each; KSM off; L1 under TCG"
row "reporting off (baseline)" anon "$n_off" "$idle_off" "$peak_off" "$after_off" "$after_off"
row "reporting on" anon "$n_on" "$idle_on" "$peak_on" "$after_on" "$after_off"
row "reporting off (baseline)" private "$n_off" "$pidle_off" "$ppeak_off" "$pafter_off" "$pafter_off"
row "reporting on" private "$n_on" "$pidle_on" "$ppeak_on" "$pafter_on" "$pafter_off"
