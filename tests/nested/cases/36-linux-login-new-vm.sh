#!/usr/bin/env bash
# timeout: 420
# A login that needs a new Linux VM, through burrowd (backend = kvm, case
# 30's template): `ssh USER@host true` for a user with no running VM, with
# the warm pool (pool_size 1: each login claims the pooled VM, which is
# then refilled) and without it (every login forks fresh), against
# Debian's sshd in this L1. Between runs, outside the timing, her VM is
# killed and the pool refills. Checks every login got a new VM, the pooled
# ones from the pool; prints p50 of LX_BENCH_RUNS (default 3; `make
# bench-linux` runs 10) with ratios (only ratios mean anything in L1).
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
[ -x /usr/sbin/sshd ] || fail "Debian's sshd is not installed (openssh-server; make deps)"
RUNS=${LX_BENCH_RUNS:-3}
stop_all() { [ -n "$LX_SSHD_PID" ] && kill "$LX_SSHD_PID" 2>/dev/null; lx_burrowd_stop; }
trap stop_all EXIT
lx_user_key nico
lx_burrowd_start
lx_sshd_start nico.pub
vmid() { sed -n 's/^id = //p' "$(lx_vm_dir nico)/meta" 2>/dev/null; }
settle() { # POOL: her VM gone, the pool refilled
    local id
    id=$(vmid)
    [ -n "$id" ] && c vm kill "$id" >/dev/null 2>&1
    [ "$1" = 0 ] || lx_wait_pool || fail "the pool did not refill: $(tail -n 3 "$LX_BLOG")"
}
fails=""
seen=" "
# logins POOL: RUNS timed logins into new VMs; ms, one per line; checks the VM's origin
logins() {
    local i ms id want=fresh
    [ "$1" = 0 ] || want=pool
    for i in $(seq "$RUNS"); do
        settle "$1"
        ms=$(lx_time_login "$LX_PORT" nico nico) || { fails+=" login($1/$i)"; continue; }
        echo "$ms"
        id=$(vmid)
        [[ $seen == *" $id "* ]] && fails+=" same-vm($id)"
        seen+="$id "
        grep -q "^origin = $want" "$(lx_vm_dir nico)/meta" || fails+=" origin($id: not $want)"
    done
}
p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pool_ms=$(logins 1 | p50)
lx_burrowd_cfg 600
sed -i 's/^pool_size = .*/pool_size = 0/' "$LX_BCFG"
kill -HUP "$LX_BPID"
fresh_ms=$(logins 0 | p50)
sshd_ms=$(for _ in $(seq "$RUNS"); do lx_time_login "$LX_SSHD_PORT" burrowbench nico || fails+=" sshd"; done | p50)
[ -n "$pool_ms" ] && [ -n "$fresh_ms" ] && [ -n "$sshd_ms" ] || fails+=" no-times"
[ -z "$fails" ] || { lx_all_fork_logs; tail -n 15 "$LX_BLOG"; fail "checks failed:$fails"; }
echo "linux-bench: login into a new VM, Debian sshd in L1 (p50 of $RUNS)       ${sshd_ms} ms   1.00x"
awk -v s="$sshd_ms" -v b="$pool_ms" -v n="$RUNS" 'BEGIN { printf "linux-bench: login into a new VM, burrowd, warm pool (p50 of %d) %d ms   %.2fx\n", n, b, b / s }'
awk -v s="$sshd_ms" -v b="$fresh_ms" -v n="$RUNS" 'BEGIN { printf "linux-bench: login into a new VM, burrowd, no pool (p50 of %d)   %d ms   %.2fx\n", n, b, b / s }'
echo "$((2 * RUNS)) logins, each into a new Linux VM ($RUNS from the pool, $RUNS fresh), timed against sshd"
