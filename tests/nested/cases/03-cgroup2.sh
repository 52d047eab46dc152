#!/usr/bin/env bash
# timeout: 120
# The VMM jail's cgroup v2 path, which the CI host (a v1/v2
# hybrid) cannot run: L1 mounts a unified hierarchy (tests/nested/init). A
# jailed `vm boot` of the test guest under L1's KVM joins
# /sys/fs/cgroup/burrow/boot-<pid>/ with memory.max = guest RAM + 256 MiB,
# pids.max = vCPUs + 8 and memory and pids accounted; the group is empty
# once the VMM is gone and the next jailed VM removes it.
. "$NESTED_REPO/tests/nested/caselib.sh"
ctl=$NESTED_BUILD/bin/burrowctl tg=$NESTED_BUILD/tests/testguest
[ -x "$ctl" ] && [ -e "$tg" ] || fail "burrowctl or the test guest is not built"
[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not cgroup2 in L1 (tests/nested/init)"
boot_spin() { # OUT ERR: a jailed 64 MiB, 2-vCPU test guest that spins; sets bgpid and vmm
    "$ctl" -v vm boot --kernel "$tg" --jail --mem 64 --vcpus 2 --cmdline testguest.mode=spin \
        </dev/null >"$1" 2>"$2" &
    bgpid=$! vmm=
    for _ in $(seq 100); do
        vmm=$(pgrep -P "$bgpid" | head -n 1)
        [ -n "$vmm" ] && grep -q "^Seccomp:.*2" "/proc/$vmm/status" 2>/dev/null && break
        sleep 0.1
    done
    [ -n "$vmm" ] || fail "no jailed VMM under $bgpid: $(cat "$2")"
}
boot_spin spin1.out spin1.err
cg=$(sed -n 's/^0::\(.*\)$/\1/p' "/proc/$vmm/cgroup")
g=/sys/fs/cgroup$cg
echo "VMM $vmm in cgroup $cg"
[[ $cg == /burrow/boot-* ]] || fail "the VMM is in '$cg', not /burrow/boot-*: $(grep -i cgroup spin1.err)"
sleep 1 # the guest spins: memory and pids are accounted by now
want_mem=$(((64 + 256) << 20))
fails=""
[ "$(cat "$g/memory.max")" = "$want_mem" ] || fails+=" memory.max=$(cat "$g/memory.max")(want $want_mem)"
[ "$(cat "$g/pids.max")" = 10 ] || fails+=" pids.max=$(cat "$g/pids.max")(want 10)"
grep -qx "$vmm" "$g/cgroup.procs" || fails+=" procs($(tr '\n' ' ' <"$g/cgroup.procs"))"
cur=$(cat "$g/memory.current") threads=$(cat "$g/pids.current")
[ "$cur" -gt 0 ] || fails+=" memory.current=$cur"
[ "$threads" -ge 3 ] || fails+=" pids.current=$threads(want vCPUs + main + event)"
echo "memory.current $((cur >> 10)) KiB, pids.current $threads"
kill -TERM "$vmm"
wait "$bgpid"
[ -z "$(cat "$g/cgroup.procs" 2>/dev/null)" ] || fails+=" not-empty-after-exit"
# The next jailed VM removes the empty group of the one that ended.
boot_spin spin2.out spin2.err
for _ in $(seq 20); do [ -d "$g" ] || break; sleep 0.1; done
[ ! -d "$g" ] || fails+=" stale-group-kept($g)"
kill -TERM "$vmm"
wait "$bgpid"
[ -z "$fails" ] || fail "checks failed:$fails"
echo "jailed VMM in its own cgroup v2: memory.max, pids.max, accounting, cleanup"
