#!/usr/bin/env bash
# tests/e2e/bench-login.sh B - `make bench-login`: what a login that needs a
# new VM costs, `ssh -o KexAlgorithms=curve25519-sha256 alice@host true`
# through burrowd (kvm backend, test-guest template) for a user with no
# running VM (her VM is killed between runs, outside the timing, and the
# pool is let refill), against, in the same run:
#   (a) the same with [vm] pool_size = 0 (every login forks fresh),
#   (b) Debian's OpenSSH sshd on this machine (same client, key, kex).
# Then the concurrent case: BENCH_USERS (20) users log in at once.
# Prints p50/p99 tables with ratios, and burrowd's own split (claim or
# restore -> vCPUs running, -> READY) from its debug log.
# Needs root and a KVM (tests/lib/kvm-tier runs it where there is one).
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
RUNS=${BENCH_RUNS:-50}
USERS=${BENCH_USERS:-20}
POOL=${BENCH_POOL:-2}
E2E_IMAGE=${E2E_IMAGE:-$B/sandbox/rootfs.cpio.gz}
[ "$(id -u)" = 0 ] || { echo "bench-login: needs root" >&2; exit 1; }
[ -x /usr/sbin/sshd ] || { echo "bench-login: /usr/sbin/sshd missing (openssh-server)" >&2; exit 1; }
[ -f "$B/tests/testguest" ] || { echo "bench-login: no test guest $B/tests/testguest" >&2; exit 1; }

# [vm] with the kvm backend and a pool of $1 (e2e_config writes the sandbox's).
login_config() {
    e2e_config
    sed -i "s/^backend = sandbox/backend = kvm\ntemplate = tg\npool_size = $1/" "$T/burrow.ini"
}
e2e_setup
trap 'kill $SSHD_PID 2>/dev/null; e2e_cleanup' EXIT
login_config "$POOL"
$BCTL template build --name tg --kernel "$B/tests/testguest" --cmdline testguest.mode=agent \
    --mem 64 --vcpus 2 >/dev/null 2>"$T/build.err" || { cat "$T/build.err" >&2; exit 1; }
for i in $(seq "$USERS"); do
    $BCTL user add "u$i" --key-file "$T/alice.pub" --disk-size 8M >/dev/null || exit 1
done
E2E_BURROWD_ARGS=-d e2e_start || exit 1

e2e_sshd_start

C=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes
   -o IdentitiesOnly=yes -i "$T/alice" -o KexAlgorithms=curve25519-sha256 -o ConnectTimeout=30)
burrow() { local u=$1; shift; timeout 60 ssh "${C[@]}" -p "$PORT" "$u@127.0.0.1" "$@"; }
openssh() { shift; timeout 60 ssh "${C[@]}" -p "$SPORT" root@127.0.0.1 "$@"; }
npool() {
    $BCTL vm list --json | python3 -c 'import json,sys
print(sum(1 for v in json.load(sys.stdin) if v["state"] == "pool"))'
}
vmid() { $BCTL vm list | awk -v u="$1" '$2 == u && $4 == "running" { print $1 }'; }
# Between runs, outside the timing: her VM gone, the pool back to its size.
settle() {
    local id
    id=$(vmid "$1")
    [ -n "$id" ] && $BCTL vm kill "$id" >/dev/null 2>&1
    for _ in $(seq 200); do [ "$(npool)" -ge "$2" ] && return; sleep 0.05; done
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000)); }
# logins FN POOL: RUNS timed `true` logins of u1, each into a new VM; microseconds, one per line
logins() {
    local i t0
    for i in $(seq "$RUNS"); do
        [ "$1" = burrow ] && settle u1 "$2"
        t0=$(date +%s%N)
        "$1" u1 true || echo "bench-login: a login failed" >&2
        ms_since "$t0"
    done
}
# concurrent: USERS users at once, each into a new VM; microseconds, one per line
concurrent() {
    local i pids=()
    for i in $(seq "$USERS"); do settle "u$i" 0; done
    settle u1 "$1"
    for i in $(seq "$USERS"); do
        (t0=$(date +%s%N); burrow "u$i" true || echo "bench-login: u$i failed" >&2; ms_since "$t0") \
            >"$T/conc.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$T"/conc.*
    rm -f "$T"/conc.*
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %d", a[int((NR+1)/2)]/1000, a[int(NR*0.99+0.5) > 0 ? int(NR*0.99+0.5) : 1]/1000, NR}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

for _ in $(seq 200); do [ "$(npool)" -ge "$POOL" ] && break; sleep 0.05; done
read -r pmed pp99 pn < <(logins burrow "$POOL" | stats)
read -r cpmed cpp99 cpn < <(concurrent "$POOL" | stats)
claims=$(grep -c "claimed from the pool" "$T/log")
login_config 0
kill -HUP "$BURROWD_PID"
sleep 3 # the pool tick retires the pooled VMs
read -r fmed fp99 fn < <(logins burrow 0 | stats)
read -r cfmed cfp99 cfn < <(concurrent 0 | stats)
read -r smed sp99 sn < <(logins openssh 0 | stats)

split() { # PATTERN: median of burrowd's "vCPUs running X ms and READY Y ms" for that kind
    grep "$1" "$T/log" | sed -n 's/.*vCPUs running \([0-9.]*\) ms and READY \([0-9.]*\) ms.*/\1 \2/p' |
        sort -n -k2 | awk '{r[NR]=$1; y[NR]=$2} END {if (NR) printf "%s %s", r[int((NR+1)/2)], y[int((NR+1)/2)]; else print "n/a n/a"}'
}
read -r crun crdy < <(split "claimed from the pool")
read -r frun frdy < <(split "forked fresh")
echo
echo "bench-login: ssh -o KexAlgorithms=curve25519-sha256 USER@host true, each login into a new VM"
echo "(test-guest template, kvm backend; $(tests/lib/kvm-tier --where)); $claims logins were pool claims"
printf '%-34s %10s %10s %6s %12s\n' "case" "p50 (ms)" "p99 (ms)" "runs" "p50 vs sshd"
printf '%-34s %10s %10s %6s %12s\n' "burrowd, pool_size $POOL" "$pmed" "$pp99" "$pn" "$(ratio "$pmed" "$smed")"
printf '%-34s %10s %10s %6s %12s\n' "burrowd, pool_size 0 (fresh)" "$fmed" "$fp99" "$fn" "$(ratio "$fmed" "$smed")"
printf '%-34s %10s %10s %6s %12s\n' "Debian sshd" "$smed" "$sp99" "$sn" "1.00"
printf '%-34s %10s %10s %6s %12s\n' "$USERS at once, pool_size $POOL" "$cpmed" "$cpp99" "$cpn" "$(ratio "$cpmed" "$smed")"
printf '%-34s %10s %10s %6s %12s\n' "$USERS at once, pool_size 0" "$cfmed" "$cfp99" "$cfn" "$(ratio "$cfmed" "$smed")"
echo
echo "burrowd's split, p50 from the request (ms):  claim/restore -> vCPUs running   -> READY"
printf '  %-42s %12s %12s\n' "pool claim" "$crun" "$crdy"
printf '  %-42s %12s %12s\n' "fresh fork" "$frun" "$frdy"
