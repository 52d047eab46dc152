#!/usr/bin/env bash
# tests/cluster/bench.sh - make bench-cluster (docs/cluster.md): a login
# (`ssh true`, p50 of 20) and 256 MiB through `cat`, through her VM's owner
# and through a non-owner front (the forward over the host-to-host SSH
# link); then the time from the owner's death to her next successful login.
set -u
B=${1:-build}
B=$(cd "$B" && pwd)
IMAGE=${IMAGE:-$B/sandbox/rootfs.cpio.gz}
cd "$(dirname "$0")/../.." || exit 1
. tests/cluster/lib.sh
trap c_teardown EXIT
c_setup || exit 1
for h in $HOSTS; do c_start $h || exit 1; done
c_add alice >/dev/null || exit 1
for h in $HOSTS; do # every host's mirror of the users has her before the first login
    for _ in $(seq 50); do
        "$B/bin/burrowctl" -c "$T/$h.ini" user list 2>/dev/null | grep -q alice && break
        sleep 0.2
    done
done
sleep 1.5 # the mirror's round
tries=0
until c_ssh h1 true 2>/dev/null; do
    [ $((++tries)) -lt 20 ] || { echo "bench-cluster: alice cannot log in through h1" >&2; exit 1; }
    sleep 0.5
done
owner=$(c_owner alice)
front=$(for h in $HOSTS; do [ "$h" != "$owner" ] && echo $h; done | head -1)

p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
logins() { # host -> p50 ms of 20 `ssh true`
    for i in $(seq 20); do
        s=$(date +%s%N); c_ssh "$1" true; e=$(date +%s%N)
        echo $(((e - s) / 1000000))
    done | p50
}
cat_mib() { # host -> seconds for 256 MiB through cat
    s=$(date +%s%N)
    head -c 256M /dev/zero | c_ssh "$1" 'cat > /dev/null'
    e=$(date +%s%N)
    echo "scale=2; ($e - $s) / 1000000000" | bc
}
lo=$(logins "$owner"); lf=$(logins "$front")
co=$(cat_mib "$owner"); cf=$(cat_mib "$front")
echo "bench-cluster: her VM on $owner; non-owner front $front"
printf '  ssh true p50 (20): owner %s ms, through a front %s ms, ratio %s\n' "$lo" "$lf" \
    "$(echo "scale=2; $lf / $lo" | bc)"
printf '  256 MiB through cat: owner %s s (%s MiB/s), forwarded %s s (%s MiB/s), ratio %s\n' \
    "$co" "$(echo "scale=1; 256 / $co" | bc)" "$cf" "$(echo "scale=1; 256 / $cf" | bc)" \
    "$(echo "scale=2; $cf / $co" | bc)"
tk=$(date +%s%N)
c_kill_host "$owner"
ip link set "bc23$owner" down
until c_ssh "$front" true 2>/dev/null; do sleep 0.2; done
tl=$(date +%s%N)
printf '  host death to her next successful login: %s s (lease_ttl %s s)\n' \
    "$(echo "scale=2; ($tl - $tk) / 1000000000" | bc)" "$TTL"
