#!/usr/bin/env bash
# timeout: 600
# The cluster with the kvm backend (docs/cluster.md): her home disk is an
# NBD export that burrowd's bridge serves as a file to virtio-blk. Two
# burrowd hosts (h1 with a warm pool of one, h2 without) fork Linux from
# template "lxbal" (case 38's, built here if missing), one etcd member and
# nbdkit with its write log, each in a network namespace of this L1
# (tests/cluster/lib.sh, as in the cluster tier). Checks:
#   - her first login through h1 claims h1's pooled VM; /home/NAME in the
#     guest is the virtio-blk disk, and the file she writes and syncs is
#     on the NBD export;
#   - her bridge serves the VMM (the starter handed it over: the disk
#     outlives the starter) and a login through h2 is forwarded into the
#     same VM (boot id);
#   - `vm kill` on h1: the agent unmounts, the bridge flushes and exits,
#     her ownership key goes, the export is a clean ext4 with her file;
#   - her next login through h2 forks fresh there with her file intact;
#   - h2 cut off from etcd (not from storage) stops her VM before its
#     lease expires; after expiry her login through h1 gets a VM with
#     everything she synced;
#   - the NBD write log: no two connections ever wrote her disk at once.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
for tool in etcd etcdctl nbdkit debugfs e2fsck; do
    command -v $tool >/dev/null || fail "$tool is missing (make deps)"
done
B=$NESTED_BUILD
C_BACKEND=kvm C_STATE=$LX/state C_TEMPLATE=lxbal C_POOL_h1=1
CLUSTER_TTL=10 # the L1 emulates every instruction: keep-alives get slow under load
. "$NESTED_REPO/tests/cluster/lib.sh"
HOSTS="h1 h2" ETCDS="e1"
lx_init
lx_template_lxbal 360
trap 'c_teardown; lx_kill_vms' EXIT
c_setup || fail "the cluster did not come up"
# A login waits for her VM (seconds in this L1) without answering the client's
# keep-alives: give the client a minute, not the tier's 3 s.
SSHO=("${SSHO[@]/ServerAliveInterval=1/ServerAliveInterval=5}")
SSHO=("${SSHO[@]/ServerAliveCountMax=3/ServerAliveCountMax=12}")
for h in $HOSTS; do c_start $h || fail "burrowd on $h did not start"; done
c_add alice >add.log 2>&1 || fail "user add: $(cat add.log)"
e2fsck -fn "$T/exports/alice" >fsck.log 2>&1 || fail "user add left no clean ext4 on the export: $(tail -n 3 fsck.log)"
for _ in $(seq 50); do
    "$B/bin/burrowctl" -c "$T/h2.ini" user list 2>/dev/null | grep -q alice && break
    sleep 0.2
done
fails=""
# vmm_of HOST: the VMM pid of alice's VM on HOST ("" if none).
vmm_of() { meta_of "$1" pid; }
rec_of() { # HOST: alice's VM's record on HOST (a forwarder's, build "remote", is not one)
    grep -l "^user = alice\$" /run/bc23$1/vm/*/meta 2>/dev/null | xargs -r grep -L "^build = remote\$" | head -n 1
}
meta_of() { # HOST KEY: KEY of alice's VM's record on HOST
    local m
    m=$(rec_of "$1")
    [ -n "$m" ] && sed -n "s/^$2 = //p" "$m" 2>/dev/null
}
log_of() { grep -iE "pool|nbd|cluster|home|vm [0-9a-f]{12}|error|warn" "$T/$1.log" | grep -v seccomp | tail -n 40 | sed "s/^/    $1: /"; }
export_has() { # FILE TEXT: the export's ext4 holds FILE (in her home's root) with TEXT
    debugfs -R "cat /$1" "$T/exports/alice" 2>/dev/null | grep -qx "$2"
}

# 1. First login through h1: the pooled VM, the disk on virtio-blk, a synced file.
lx_wait_pool /run/bc23h1 || fail "h1's pool did not fill: $(log_of h1)"
a=$(c_ssh h1 'echo one > ~/f; sync; cat /proc/sys/kernel/random/boot_id; awk "\$2 == \"/home/alice\" {print \$1}" /proc/mounts' 2>&1)
echo "h1 login: $a"
boot1=$(sed -n 1p <<<"$a")
[ "$(sed -n 2p <<<"$a")" = /dev/vda ] || fails+=" home-not-vda($a)"
[ "$(meta_of h1 origin)" = pool ] || fails+=" not-from-pool($(meta_of h1 origin))"
console_of() { # HOST: what alice's guest kernel said about her disk
    local d
    d=$(dirname "$(rec_of "$1")")
    grep -aiE "vda|ext4|blk|i/o error" "$d/console.log" 2>/dev/null | tail -n 8 | sed "s/^/    $1 guest: /"
}
[ -z "$fails" ] || console_of h1
[ "$(c_owner alice)" = h1 ] || fails+=" owner($(c_owner alice))"

# 2. The bridge serves the VMM, and h2 forwards into the same VM.
vmm=$(vmm_of h1)
grep -q "nbd alice: her disk now serves pid $vmm\$" "$T/h1.log" || fails+=" bridge-not-handed-to-vmm($vmm)"
pgrep -x burrow-nbd >/dev/null || fails+=" no-bridge"
b=$(c_ssh h2 'cat ~/f; cat /proc/sys/kernel/random/boot_id' 2>&1)
[ "$b" = "one
$boot1" ] || fails+=" forward-via-h2($b)"
[ -z "$(vmm_of h2)" ] || fails+=" vm-on-h2"

# 3. Her VM stopped on h1: the disk is let go, flushed and clean, with her file.
"$B/bin/burrowctl" -c "$T/h1.ini" vm kill "$(meta_of h1 id)" >kill.log 2>&1 || fails+=" vm-kill($(cat kill.log))"
for _ in $(seq 150); do [ -z "$(c_owner alice)" ] && ! pgrep -x burrow-nbd >/dev/null && break; sleep 0.2; done
[ -z "$(c_owner alice)" ] || fails+=" owner-kept($(c_owner alice))"
for p in $(pgrep -x burrow-nbd); do
    fails+=" bridge-outlived-vm($p: $(cut -d' ' -f3 /proc/$p/stat) $(cat /proc/$p/task/*/wchan | tr '\n' ' '))"
done
e2fsck -fn "$T/exports/alice" >fsck.log 2>&1 || {
    fails+=" fsck($(tail -n 2 fsck.log))"
    od -A d -t x1 -j 1024 -N 96 "$T/exports/alice" | sed 's/^/    superblock: /'
}
export_has f one || fails+=" export-lacks-f"
[ -z "$fails" ] || { log_of h1; lx_all_fork_logs /run/bc23h1 /run/bc23h2; fail "checks failed:$fails"; }

# 4. Next login through h2: a fresh fork there, her file intact.
c=$(c_ssh h2 'cat ~/f; echo two >> ~/f; sync; cat /proc/sys/kernel/random/boot_id' 2>&1)
echo "h2 login: $c"
[ "$(sed -n 1p <<<"$c")" = one ] || fails+=" h2-lost-f($c)"
[ "$(sed -n 2p <<<"$c")" != "$boot1" ] || fails+=" same-boot-id"
[ "$(c_owner alice)" = h2 ] || fails+=" owner2($(c_owner alice))"
[ "$(meta_of h2 origin)" = fresh ] || fails+=" h2-origin($(meta_of h2 origin))"

# 5. h2 cut off from etcd, not from storage: her VM stops before the lease expires.
c_in h2 ip route add blackhole "$(c_ip e1)/32"
t0=$EPOCHREALTIME
stopped=""
for _ in $(seq 200); do
    v=$(vmm_of h2)
    { [ -z "$v" ] || ! kill -0 "$v" 2>/dev/null; } && { stopped=$(ms_since "$t0"); break; }
    sleep 0.1
done
[ -n "$stopped" ] && [ "$(c_owner alice)" = h2 ] && echo "h2 fenced her VM after $stopped ms (lease still held)" ||
    fails+=" fence(stopped='$stopped' owner=$(c_owner alice))"
for _ in $(seq 150); do [ -z "$(c_owner alice)" ] && break; sleep 0.2; done
d=$(c_ssh h1 'cat ~/f' 2>&1)
[ "$d" = "one
two" ] || fails+=" after-fence($d)"
[ "$(c_owner alice)" = h1 ] || fails+=" owner3($(c_owner alice))"
c_in h2 ip route del blackhole "$(c_ip e1)/32"

# 6. The write log: her disk's writers one after another.
python3 "$NESTED_REPO/tests/cluster/nbdlog.py" "$T/nbd.log" alice >nbdlog.out 2>&1 || fails+=" nbdlog($(tail -n 2 nbdlog.out))"
echo "nbd write log: $(tail -n 1 nbdlog.out)"
[ -z "$fails" ] || { log_of h1; log_of h2; lx_all_fork_logs /run/bc23h1 /run/bc23h2; fail "checks failed:$fails"; }
echo "kvm backend on NBD homes: pool claim and fresh fork, forward, handover, flush, fencing, write log: ok"
