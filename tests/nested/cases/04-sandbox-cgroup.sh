#!/usr/bin/env bash
# timeout: 180
# The sandbox backend's cgroup v2 path, which the CI host (a
# v1/v2 hybrid) cannot run: L1 mounts a unified hierarchy. burrowd (the
# installed flavour, backend = sandbox) starts alice's environment; its PID 1
# and every process of the sandbox are in /sys/fs/cgroup/burrow/sbx-<id>/
# with pids.max 512 and memory.max = memory_mb (256) + 256 MiB. (The fork
# bomb itself runs in the e2e tier, on the rlimit; here it cost minutes.)
. "$NESTED_REPO/tests/nested/caselib.sh"
B=$NESTED_BUILD
. "$NESTED_REPO/tests/e2e/lib.sh"
E2E_IMAGE=$B/sandbox/rootfs.cpio.gz
[ -f "$E2E_IMAGE" ] || fail "no sandbox image $E2E_IMAGE"
[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not cgroup2 in L1"
command -v ssh >/dev/null || fail "the OpenSSH client is not installed"
e2e_setup
trap e2e_cleanup EXIT
BURROWD=$B/bin/burrowd e2e_start >/dev/null || fail "burrowd did not start: $(tail -n 5 "$T/log")"
out=$(e2e_ssh alice alice 'sleep 30 </dev/null >/dev/null 2>&1 & echo in' 2>&1)
expect_eq "first login" "$out" in
dir=$(e2e_vmdir alice) || fail "no VM record for alice"
g=/sys/fs/cgroup/burrow/sbx-$(basename "$dir")
[ -d "$g" ] || fail "no cgroup $g: $(grep -i cgroup "$T/log" | tail -n 2)"
expect_eq pids.max "$(cat "$g/pids.max")" 512
expect_eq memory.max "$(cat "$g/memory.max")" $(((256 + 256) << 20))
init=$(pgrep -P "$(sed -n 's/^pid = //p' "$dir/meta")" | head -n 1)
grep -qx "$init" "$g/cgroup.procs" || fail "PID 1 ($init) is not in $g: $(tr '\n' ' ' <"$g/cgroup.procs")"
# PID 1, the agent and alice's sleep at least: her processes are the group's.
n=$(cat "$g/pids.current")
[ "$n" -ge 3 ] || fail "pids.current $n: the sandbox's processes are not counted in $g"
echo "sandbox in its own cgroup: PID 1 and $n processes in $g, pids.max 512, memory.max $(cat "$g/memory.max")"
