#!/usr/bin/env bash
# timeout: 200
# Forks of a real Linux template: 5 users, each with a home disk,
# get a fork of case 30's template (`vm fork --user NAME`) that reaches
# READY. Through each VM's unix socket ("CONNECT 1024" + the agent protocol,
# build/tests/nested/vm-exec) one exec session shows the right user name,
# uid, hostname (burrow-NAME, the rule of every path) and /dev/vda mounted on the home directory,
# writes a file there; /dev/urandom output differs between all forks; the
# guest's wall clock is within 2 s of L1's; a process started in fork 1 is
# invisible in fork 2; each idle fork's private memory (smaps_rollup) is
# reported and below the guest's size. Prints fork->READY times and the
# private memory of one idle fork alone and the mean of 10 idle forks.
# A session that fails prints its fork's log and console (kept in
# test-results too).
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -x "$vm_exec" ] || fail "$vm_exec is not built"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
N=5
trap lx_kill_vms EXIT
for i in $(seq $N); do
    lx_user_add "lx$i" --uid $((10000 + i)) --disk-size 16M
done
# fork_mem FILTER: "N ANON PSS": how many idle forks in `vm list --json`
# have a user matching the python expression FILTER (on u), and their mean
# anonymous memory (the copy-on-write copies and the VMM's heap: what a
# fork costs) and mean PSS, in KiB. (private_kib would count a lone fork's
# template pages in the page cache as its own until a second fork maps them.)
fork_mem() {
    c vm list --json >list.json || return 1
    python3 - list.json "$1" <<'PY'
import json, sys
vms = [v for v in json.load(open(sys.argv[1])) if eval(sys.argv[2], {"u": v["user"]})]
n = max(len(vms), 1)
print("%d %d %d" % (len(vms), sum(v["anon_kib"] for v in vms) // n, sum(v["pss_kib"] for v in vms) // n))
PY
}
for i in $(seq $N); do
    out=$(c vm fork --user "lx$i" 2>&1) || fail "vm fork --user lx$i: $out"
    echo "fork lx$i: $out" | tee -a forks.log
    # the first fork alone, idle after READY: its private memory
    [ $i = 1 ] && { sleep 1; alone=$(fork_mem 'u == "lx1"'); }
done
rands="" fails=""
for i in $(seq $N); do
    d=$(lx_vm_dir "lx$i")
    [ -n "$d" ] || { fails+=" lx$i:no-vm-record"; continue; }
    t0=$(now)
    out=$("$vm_exec" "$d/vsock.sock" "lx$i" 'id -un; id -u; hostname
        awk "\$2 == \"$HOME\" {print \$1, \$3}" /proc/mounts
        echo hello-$(id -un) >~/hello && cat ~/hello && sync
        head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"; echo
        date +%s
        if [ "$(id -un)" = lx1 ]; then setsid sleep 4242 </dev/null >/dev/null 2>&1 & fi
        ps -o args | grep -cx "sleep 4242" || :' 2>err.log)
    rc=$?
    t1=$(now)
    echo "session lx$i (rc $rc):" $out
    # A dead fork's vmm.log says why (a triple fault makes run-cases rerun
    # the case); `vm list` would remove it with the record.
    [ $rc = 0 ] || { lx_fork_logs "$d"; fails+=" lx$i:exit-$rc($(tail -n 1 err.log))"; continue; }
    mapfile -t l <<<"$out"
    [ "${l[0]}" = "lx$i" ] || fails+=" lx$i:user=${l[0]}"
    [ "${l[1]}" = $((10000 + i)) ] || fails+=" lx$i:uid=${l[1]}"
    [ "${l[2]}" = "burrow-lx$i" ] || fails+=" lx$i:hostname=${l[2]}"
    [ "${l[3]}" = "/dev/vda ext4" ] || fails+=" lx$i:home-mount='${l[3]}'"
    [ "${l[4]}" = "hello-lx$i" ] || fails+=" lx$i:home-write='${l[4]}'"
    [ "${#l[5]}" = 64 ] || fails+=" lx$i:urandom='${l[5]}'"
    rands+="${l[5]}"$'\n'
    # wall clock: inside [t0 - 2 s, t1 + 2 s] of L1's clock around the session
    # (busybox date has whole seconds: the guest's time is in [g, g + 1))
    awk -v g="${l[6]}" -v a="$t0" -v b="$t1" 'BEGIN { exit !(g ~ /^[0-9]+$/ && g + 1 >= a - 2 && g <= b + 2) }' ||
        fails+=" lx$i:clock=${l[6]}(L1 $t0..$t1)"
    want=0; [ $i = 1 ] && want=1
    [ "${l[7]}" = $want ] || fails+=" lx$i:sees-sleep-4242=${l[7]}(want $want)"
done
[ "$(printf '%s' "$rands" | sort -u | grep -c .)" = $N ] || fails+=" urandom-not-distinct"
# The others did not see it, yet fork 1 still has it (it outlived its session).
d=$(lx_vm_dir lx1)
n=$("$vm_exec" "$d/vsock.sock" lx1 'ps -o args | grep -cx "sleep 4242"' 2>&1)
[ "$n" = 1 ] || fails+=" lx1:sleep-4242-gone($n)"
c vm list --json >list.json || fail "vm list --json failed"
python3 - list.json $N "$LX_MEM" <<'PY' || fails+=" vm-list"
import json, sys
vms = json.load(open(sys.argv[1])); n = int(sys.argv[2])
mine = [v for v in vms if v["user"].startswith("lx")]
for v in mine:
    print("linux-fork: idle fork %s (%s): private %d KiB, shared %d KiB" % (v["id"], v["user"], v["private_kib"], v["shared_kib"]))
ok = len(mine) == n and all(0 < v["private_kib"] < int(sys.argv[3]) * 1024 for v in mine)
sys.exit(0 if ok else 1)
PY
# Fork->READY against a cold boot of the same template (case 30 measured it):
# forks without a user (no home disk), as the template itself booted.
out=$(c vm fork --count 5 2>&1) || fails+=" vm-fork-count-5"
echo "$out"
cold=$(cat "$LX/cold-ready-ms" 2>/dev/null)
readys=$(echo "$out" | sed -n 's/.* ready \([0-9.]*\) ms.*/\1/p' | sort -n)
disk=$(grep -h "^fork lx" "$NESTED_SCRATCH/forks.log" | sed -n 's/.* ready \([0-9.]*\) ms.*/\1/p' | sort -n)
if [ -n "$cold" ] && [ -n "$readys" ]; then
    p50=$(echo "$readys" | sed -n 3p)
    d50=$(echo "$disk" | sed -n 3p)
    echo "linux-bench: cold boot of the template to READY   ${cold} ms   1.00x"
    awk -v c="$cold" -v f="$p50" 'BEGIN { printf "linux-bench: fork to READY, no disk (p50 of 5)  %.0f ms   %.4fx\n", f, f / c }'
    awk -v c="$cold" -v f="$d50" 'BEGIN { printf "linux-bench: fork to READY, home disk (p50 of 5) %.0f ms   %.4fx\n", f, f / c }'
else
    fails+=" bench(cold='$cold' forks='$readys')"
fi
# Memory per idle fork: the first fork alone against the mean of all 10
# (5 with a home disk and a finished session, 5 without).
sleep 1
ten=$(fork_mem 'True')
read -r n1 d1 p1 <<<"$alone"
read -r n10 d10 p10 <<<"$ten"
if [ "$n1" = 1 ] && [ "$n10" = 10 ] && [ "$d1" -gt 0 ] && [ "$d10" -gt 0 ]; then
    echo "linux-bench: anonymous memory per idle fork, 1 fork    ${d1} KiB   1.00x"
    awk -v a="$d1" -v b="$d10" 'BEGIN { printf "linux-bench: anonymous memory per idle fork, 10 forks  %d KiB   %.2fx\n", b, b / a }'
    echo "linux-bench: PSS per idle fork, 1 fork                     ${p1} KiB   1.00x"
    awk -v a="$p1" -v b="$p10" 'BEGIN { printf "linux-bench: PSS per idle fork, 10 forks                   %d KiB   %.2fx\n", b, b / a }'
else
    fails+=" fork-memory(1: '$alone', 10: '$ten')"
fi
[ -z "$fails" ] || { lx_all_fork_logs; fail "checks failed:$fails"; }
echo "5 Linux forks READY: user, uid, hostname, home disk, distinct urandom, clock, process isolation"
