#!/usr/bin/env bash
# tests/e2e/bench-ssh.sh B - `make bench-ssh`: burrowd (sandbox backend) against
# Debian's OpenSSH sshd started here on another port with an equivalent config,
# same client, same key exchange (-o KexAlgorithms=curve25519-sha256: libssh
# 0.10 lacks OpenSSH 9.2's default sntrup761):
#   login   `ssh user@127.0.0.1 true`, N runs each (default 50), median/p90
#   cat     256 MiB through `cat` (client -> server -> client), MiB/s
# Prints a table with ratios burrowd/sshd measured in the same run.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
RUNS=${BENCH_RUNS:-50}
MIB=${BENCH_MIB:-256}
E2E_IMAGE=${E2E_IMAGE:-$B/sandbox/rootfs.cpio.gz}
[ -f "$B/guest/initramfs.cpio.gz" ] && E2E_IMAGE=$B/guest/initramfs.cpio.gz
[ "$(id -u)" = 0 ] || { echo "bench-ssh: needs root" >&2; exit 1; }
[ -x /usr/sbin/sshd ] || { echo "bench-ssh: /usr/sbin/sshd missing (openssh-server)" >&2; exit 1; }

e2e_setup
trap 'kill $SSHD_PID 2>/dev/null; e2e_cleanup' EXIT
e2e_start || exit 1

e2e_sshd_start

C=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes
   -o IdentitiesOnly=yes -i "$T/alice" -o KexAlgorithms=curve25519-sha256)
burrow() { ssh "${C[@]}" -p "$PORT" alice@127.0.0.1 "$@"; }
openssh() { ssh "${C[@]}" -p "$SPORT" root@127.0.0.1 "$@"; }

# login times in ms, one per line
logins() {
    local i t0 t1
    "$1" true || { echo "bench-ssh: $1 login failed" >&2; return 1; }  # warm up (starts the VM)
    for i in $(seq "$RUNS"); do
        t0=$(date +%s%N); "$1" true; t1=$(date +%s%N)
        echo $(( (t1 - t0) / 1000 ))
    done
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f", a[int((NR+1)/2)]/1000, a[int(NR*0.9)]/1000}'; }
throughput() {
    local t0 t1 n
    t0=$(date +%s%N)
    n=$(head -c $((MIB << 20)) /dev/zero | "$1" cat | wc -c)
    t1=$(date +%s%N)
    [ "$n" = $((MIB << 20)) ] || { echo "0"; return; }
    awk -v m="$MIB" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", m / (ns / 1e9)}'
}

read -r bmed bp90 < <(logins burrow | stats)
read -r smed sp90 < <(logins openssh | stats)
bthr=$(throughput burrow)
sthr=$(throughput openssh)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "bench-ssh: $RUNS logins each, $MIB MiB through cat, kex curve25519-sha256, same client"
printf '%-28s %12s %12s %10s\n' "metric" "burrowd" "sshd" "ratio"
printf '%-28s %12s %12s %10s\n' "ssh true, median (ms)" "$bmed" "$smed" "$(ratio "$bmed" "$smed")"
printf '%-28s %12s %12s %10s\n' "ssh true, p90 (ms)" "$bp90" "$sp90" "$(ratio "$bp90" "$sp90")"
printf '%-28s %12s %12s %10s\n' "cat ${MIB} MiB (MiB/s)" "$bthr" "$sthr" "$(ratio "$bthr" "$sthr")"
