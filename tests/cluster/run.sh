#!/usr/bin/env bash
# tests/cluster/run.sh - the cluster tier (make test-cluster; docs/cluster.md,
# docs/testing.md): three burrowd hosts (sandbox backend), a three-member etcd,
# an NBD server with a write log, all in network namespaces on this machine.
set -u
B=${1:-build}
B=$(cd "$B" && pwd)
IMAGE=${IMAGE:-$B/sandbox/rootfs.cpio.gz}
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/testlib.sh
. tests/cluster/lib.sh
. tests/security/jail.sh
t_begin cluster "$B/test-results"
for tool in etcd etcdctl nbdkit ip ssh; do
    command -v $tool >/dev/null || { t_fail setup "$tool missing: make deps"; t_end; exit 1; }
done
for tool in openssl curl; do
    command -v $tool >/dev/null || { t_fail setup "$tool missing"; t_end; exit 1; }
done
trap c_teardown EXIT
c_setup || { t_fail setup "the cluster did not come up"; t_end; exit 1; }

# --- etcd over TLS, client certificates required (lib.sh: c_pki) ------------------
# A burrowd without the client certificate does not join (in h3's namespace, before h3).
sed '/^etcd_cert/d; /^etcd_key/d' "$T/h3.ini" > "$T/nocert.ini"
c_in h3 setsid "$B/bin/burrowd" -d -c "$T/nocert.ini" >> "$T/nocert.log" 2>&1 &
for i in $(seq 100); do grep -q "cannot join through etcd" "$T/nocert.log" && break; sleep 0.1; done
sleep 0.5
msg=$(grep -m1 "cannot join through etcd" "$T/nocert.log")
joined=$(c_etcdctl get --prefix --keys-only /burrow/hosts/ 2>&1)
c_kill_host h3
for i in $(seq 50); do [ -z "$(ip netns pids "$(c_ns h3)")" ] && break; sleep 0.1; done
if grep -q "TLS: .*refuses clients without a certificate.*etcd_cert" <<<"$msg" && [ -z "$joined" ] &&
    ! grep -q "cluster: host h3" "$T/nocert.log"; then
    t_ok "burrowd without etcd_cert/etcd_key does not join; it logs the TLS refusal and what to set"
else
    t_fail "burrowd without a client certificate" "log: '$msg'; hosts in etcd: '$joined'"
fi
for h in $HOSTS; do c_start $h || { t_fail setup "burrowd $h"; t_end; exit 1; }; done
peers=$(c_etcdctl member list 2>&1)
[ "$(grep -c "https://$NET.1[123]:2380, https://$NET.1[123]:2379" <<<"$peers")" = 3 ] &&
    t_ok "three hosts joined over https (etcd 3 members, TLS between them too; NBD server)" ||
    t_fail "etcd members over TLS" "$peers"

# etcd itself: only TLS, and only with a certificate of the tier's CA.
api=https://$(c_ip e1):2379/v3/kv/range
plain=$(curl -sS -d '{"key":"Lw=="}' "http://$(c_ip e1):2379/v3/kv/range" 2>&1); plain_rc=$?
[ $plain_rc != 0 ] && ! grep -q '"header"' <<<"$plain" &&
    t_ok "etcd answers no plain-http request (${plain:0:60})" ||
    t_fail "plain http to etcd" "rc $plain_rc: $plain"
nocert=$(curl -sS --cacert "$T/pki/ca.pem" -d '{"key":"Lw=="}' "$api" 2>&1); nocert_rc=$?
other=$(curl -sS --cacert "$T/pki/ca.pem" --cert "$T/pki/otherclient.pem" \
    --key "$T/pki/otherclient.key" -d '{"key":"Lw=="}' "$api" 2>&1); other_rc=$?
withcert=$(curl -sS --cacert "$T/pki/ca.pem" --cert "$T/pki/client.pem" --key "$T/pki/client.key" \
    -d '{"key":"Lw=="}' "$api" 2>&1)
[ $nocert_rc != 0 ] && [ $other_rc != 0 ] && grep -q '"header"' <<<"$withcert" &&
    t_ok "etcd refuses https without a client certificate or with one of another CA, answers with the tier's" ||
    t_fail "etcd client-cert-auth" "without: rc $nocert_rc $nocert / other CA: rc $other_rc $other / with: $withcert"

# burrowctl with the wrong TLS settings: refused, naming etcd and what failed.
ctl_refused() { # NAME CONFIG REGEX [NETNS]: burrowctl user list fails with a message matching REGEX
    local name=$1 cfg=$2 re=$3 ns=${4:-} out rc
    if [ -n "$ns" ]; then
        out=$(c_in "$ns" "$B/bin/burrowctl" -c "$cfg" user list 2>&1); rc=$?
    else
        out=$("$B/bin/burrowctl" -c "$cfg" user list 2>&1); rc=$?
    fi
    if [ $rc != 0 ] && grep -q "etcd" <<<"$out" && grep -Eq "$re" <<<"$out"; then
        t_ok "$name (${out:0:140})"
    else
        t_fail "$name" "rc $rc: $out"
    fi
}
ctl_refused "burrowctl without a client certificate is refused" "$T/nocert.ini" \
    "TLS: .*refuses clients without a certificate: set \\[cluster\\] etcd_cert and etcd_key"
sed "s|^etcd_ca = .*|etcd_ca = $T/pki/otherca.pem|" "$T/h1.ini" > "$T/otherca.ini"
ctl_refused "burrowctl with a CA that did not sign the members is refused" "$T/otherca.ini" \
    "TLS: SSL certificate problem.*etcd_ca"
sed "s|^etcd_cert = .*|etcd_cert = $T/pki/otherclient.pem|; s|^etcd_key = .*|etcd_key = $T/pki/otherclient.key|" \
    "$T/h1.ini" > "$T/othercert.ini"
ctl_refused "burrowctl with a client certificate of another CA is refused by etcd" "$T/othercert.ini" \
    "TLS: .*refuses a client certificate that its --trusted-ca-file did not sign"
sed "s|^etcd = .*|etcd = https://127.0.0.1:2379|" "$T/h1.ini" > "$T/byname.ini"
ctl_refused "burrowctl to a member by an address its certificate does not name is refused" \
    "$T/byname.ini" "TLS: .*name.*'127\.0\.0\.1'" e1
sed "s|^etcd = .*|etcd = $(c_etcd_endpoints | sed 's|https://|http://|g; s|,| |g')|" "$T/h1.ini" > "$T/plain.ini"
ctl_refused "burrowctl speaking plain http to etcd is refused" "$T/plain.ini" "plain http.*https://"

# --- the user database lives in etcd -------------------------------------------
out=$(c_add alice 2>&1)
t_check "user add on h1" grep -q "added user alice" <<<"$out"
seen=0
for i in $(seq 30); do
    "$B/bin/burrowctl" -c "$T/h3.ini" user list 2>/dev/null | grep -q alice && { seen=1; break; }
    sleep 0.2
done
[ $seen = 1 ] && t_ok "alice added on h1 is in h3's user list" || t_fail "user list on h3" "no alice"
out=$(c_add alice 2>&1)
t_check "a second user add alice is refused (name taken in the cluster)" grep -q "already exists" <<<"$out"
# A password too: its hash is the secret the peer sessions' memory is searched for below.
echo "alice-pw-$RANDOM" | "$B/bin/burrowctl" -c "$T/h1.ini" user passwd alice >/dev/null 2>&1
sleep 1.5 # the mirror's round

# --- one VM through any host ----------------------------------------------------
a=$(c_ssh h2 'echo $$-$(date +%N) > /tmp/mark; cat /tmp/mark; readlink /proc/self/ns/pid; hostname' 2>&1)
b=$(c_ssh h3 'cat /tmp/mark; readlink /proc/self/ns/pid; hostname' 2>&1)
if [ -n "$a" ] && [ "$a" = "$b" ] && grep -q burrow-alice <<<"$a"; then
    t_ok "logins through h2 and h3 land in the same VM (file, pid namespace, hostname)"
else
    t_fail "same VM through h2 and h3" "h2: $a / h3: $b"
fi
owner=$(c_owner alice)
[ "$(c_total alice)" = 1 ] && [ -n "$owner" ] && t_ok "exactly one VM of alice, owned by $owner" \
    || t_fail "one VM of alice" "sandboxes $(c_total alice), owner '$owner'"
# --- the owner's peer sessions are jailed like the SSH front's net child ----------
# c_burrowd HOST: HOST's master. c_peers HOST: its peer session processes.
# (Its forked children, the cluster process and the VMs' supervisors, share its command line;
# they rename themselves, and those that outlive a master are no longer a burrowd's children.)
c_burrowd() {
    local p cmd="$B/bin/burrowd -d -c $T/$1.ini "
    for p in $(ip netns pids "$(c_ns "$1")"); do
        [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "$cmd" ] &&
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = burrowd ] || continue
        [ "$(tr '\0' ' ' <"/proc/$(awk '/^PPid:/ {print $2}' "/proc/$p/status")/cmdline")" = "$cmd" ] ||
            echo "$p"
    done
}
c_peers() {
    local p
    for p in $(pgrep -P "$(c_burrowd "$1")"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--peer-process" && echo "$p"
    done
}
front=$(for h in $HOSTS; do [ "$h" != "$owner" ] && echo $h; done | head -1)
c_ssh "$front" 'sleep 6' >/dev/null 2>&1 & # a forwarded session: hold and connect streams
fwd=$!
hash=$(sed -n 's/^password = "\(.*\)"$/\1/p' "$T/h1/state/users/alice/user.ini")
for i in $(seq 50); do [ "$(c_peers "$owner" | wc -l)" -ge 2 ] && break; sleep 0.1; done
peers=$(c_peers "$owner")
[ "$(echo "$peers" | wc -w)" -ge 2 ] && t_ok "her session through $front: $(echo $peers | wc -w) peer sessions on $owner" ||
    t_fail "peer sessions on $owner" "found '$peers'"
mem="master $(sec_mem_has "$(c_burrowd "$owner")" "$hash")"
for p in $peers; do
    mem="$mem, peer $(sec_mem_has "$p" "$hash")"
done
for p in $(echo "$peers" | head -n 2); do # (two: a fixed number of checks)
    sec_jailed "$p" "peer session $p (after auth)" "peer-postauth"
    grep -q "^NSpid:.*[[:space:]]1$" "/proc/$p/status" &&
        t_ok "peer session $p: PID 1 of its own pid namespace (a re-executed burrowd)" ||
        t_fail peer-pidns "$(grep NSpid "/proc/$p/status")"
done
[ "${#hash}" -gt 40 ] && [[ $mem == "master found"* ]] && ! grep -q "peer found" <<<"$mem" &&
    t_ok "alice's password hash (in $owner's master) is in no peer session's memory" ||
    t_fail "peer session memory" "hash '${hash:0:20}...': $mem"
# Before authentication: the jail is on before libssh reads a byte (the banner proves it ran).
exec 7<>"/dev/tcp/$(c_ip "$owner")/2200"
read -t 10 -r banner <&7
new=""
for i in $(seq 50); do
    new=$(c_peers "$owner" | grep -vxF "$peers" | head -1)
    [ -n "$new" ] && break
    sleep 0.1
done
if [ -n "$new" ] && grep -q "^SSH-2.0" <<<"$banner"; then
    sec_jailed "$new" "peer session before auth" "peer-preauth"
else
    t_fail "peer session before auth" "banner '$banner', process '$new'"
fi
exec 7>&-
wait $fwd

# --- the front's burrowd restarted: its forwarder is re-adopted ------------------------
# c_forwarder HOST USER: the pid of HOST's forwarder for USER, from its registry record.
c_forwarder() {
    local d
    for d in /run/bc23$1/vm/*/; do
        grep -q "^backend = remote" "$d/burrowd" 2>/dev/null && grep -q "^user = $2\$" "$d/burrowd" &&
            sed -n 's/^pid = //p' "$d/meta" 2>/dev/null
    done
}
fpid=$(c_forwarder "$front" alice)
ready=$(grep -c "ready:" "$T/$front.log")
kill -TERM "$(c_burrowd "$front")"
for i in $(seq 50); do [ -z "$(c_burrowd "$front")" ] && break; sleep 0.1; done
c_start "$front" >/dev/null # (it finds the old "ready:"; the wait for the new one follows)
for i in $(seq 100); do [ "$(grep -c "ready:" "$T/$front.log")" -gt "$ready" ] && break; sleep 0.1; done
if [ -n "$fpid" ] && kill -0 "$fpid" 2>/dev/null &&
    grep -q "re-adopted (user alice, pid $fpid)" "$T/$front.log"; then
    t_ok "$front's burrowd restarted: her forwarder (pid $fpid) outlived it and was re-adopted"
else
    t_fail "forwarder re-adopted on $front" "pid '$fpid': $(grep -E "re-adopted|forward alice" "$T/$front.log" | tail -n 3)"
fi
b=$(c_ssh "$front" 'cat /tmp/mark; readlink /proc/self/ns/pid; hostname' 2>&1)
if [ "$a" = "$b" ] && [ -n "$fpid" ] && [ "$(c_forwarder "$front" alice)" = "$fpid" ] &&
    [ "$(c_total alice)" = 1 ]; then
    t_ok "a new login through $front after the restart: the same VM, through the same forwarder, one VM"
else
    t_fail "login through the restarted $front" "'$b' vs '$a'; forwarder $(c_forwarder "$front" alice); VMs $(c_total alice)"
fi
# Its registry record is a live one: a registry walk (vm list) keeps an old, idle forwarder's socket.
fdir=$(dirname "$(grep -l "^backend = remote" /run/bc23$front/vm/*/burrowd | head -n 1)")
touch -d '10 minutes ago' "$fdir"
"$B/bin/burrowctl" -c "$T/$front.ini" vm list >/dev/null 2>&1
[ -S "$fdir/vsock.sock" ] && [ -n "$fpid" ] && [ "$(c_forwarder "$front" alice)" = "$fpid" ] &&
    t_ok "vm list on $front keeps her forwarder's record and socket (a live registry record, not a stale one)" ||
    t_fail "forwarder record kept" "$fdir: $(ls "$fdir" 2>&1 | tr '\n' ' ')"

# Home data written and synced now must survive everything below.
c_ssh h1 'echo precious-$(date +%s) > ~/precious; sync; cat ~/precious' > "$T/precious" 2>&1
t_check "her home disk (NBD) is mounted and written" grep -q precious- "$T/precious"

# --- two first logins at once through two hosts -----------------------------------
c_add bob >/dev/null 2>&1
sleep 1.5
U=bob c_ssh h2 'readlink /proc/self/ns/pid; sleep 1' > "$T/bob2" 2>&1 &
p2=$!
U=bob c_ssh h3 'readlink /proc/self/ns/pid; sleep 1' > "$T/bob3" 2>&1 &
p3=$!
wait $p2 $p3
if grep -q "pid:" "$T/bob2" && cmp -s "$T/bob2" "$T/bob3" && [ "$(c_total bob)" = 1 ]; then
    t_ok "two simultaneous first logins of bob (h2, h3) made exactly one VM"
else
    t_fail "one VM for two first logins" "h2: $(cat "$T/bob2") h3: $(cat "$T/bob3") VMs: $(c_total bob)"
fi

# --- etcd down: new logins refused, existing sessions keep working ----------------
c_ssh h1 'for i in $(seq 40); do echo tick $i; sleep 0.5; done' > "$T/ticks" 2>&1 &
ticker=$!
sleep 2
for m in $ETCDS; do ip netns pids "$(c_ns $m)" | xargs -r kill -9; done
sleep $((TTL + 2)) # longer than a lease: a fenced host would have stopped her VM by now
out=$(U=bob c_ssh h3 true 2>&1); rc=$?
[ $rc = 255 ] && grep -q "etcd" <<<"$out" && t_ok "etcd down: a new login is refused clearly" \
    || t_fail "etcd down: new login refused" "rc $rc: $out"
wait $ticker
n=$(grep -c tick "$T/ticks")
[ "$n" = 40 ] && t_ok "etcd down: an existing session kept working (40 ticks over 20 s)" \
    || t_fail "etcd down: existing session" "$n ticks"
for m in $ETCDS; do c_etcd_start $m; done
c_etcd_wait || t_fail "etcd restart" "not healthy"
ok=0
for i in $(seq 40); do U=bob c_ssh h3 true 2>/dev/null && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] && t_ok "etcd back: logins work again" || t_fail "etcd back" "no login"

# --- partition the owner from etcd (not from storage): fencing before expiry -------
owner=$(c_owner alice)
c_ssh "$owner" 'i=0; while :; do i=$((i+1)); echo $i > ~/counter; sync; sleep 0.1; done' > /dev/null 2>&1 &
writer=$!
sleep 2
for m in $ETCDS; do c_in "$owner" ip route add blackhole "$(c_ip $m)/32"; done
t0=$(date +%s.%N)
fenced=""
for i in $(seq 100); do
    [ "$(c_sandboxes "$owner" alice)" = 0 ] && { fenced=$(date +%s.%N); break; }
    sleep 0.1
done
still=$(c_owner alice)
if [ -n "$fenced" ] && [ "$still" = "$owner" ]; then
    t_ok "partitioned $owner stopped alice's VM after $(echo "$fenced - $t0" | bc) s, while its lease still held"
else
    t_fail "fencing before expiry" "fenced='$fenced' owner now '$still'"
fi
wait $writer 2>/dev/null
for i in $(seq 100); do [ -z "$(c_owner alice)" ] && break; sleep 0.2; done
other=$(for h in $HOSTS; do [ "$h" != "$owner" ] && echo $h; done | head -1)
got=$(c_ssh "$other" 'cat ~/precious; cat ~/counter' 2>&1)
if grep -qx "$(cat "$T/precious")" <<<"$got" && [ -n "$(c_owner alice)" ] && [ "$(c_owner alice)" != "$owner" ]; then
    t_ok "after expiry her next login (via $other) got a VM on $(c_owner alice) with her home intact"
else
    t_fail "new VM after the partition" "$got; owner $(c_owner alice)"
fi
for m in $ETCDS; do c_in "$owner" ip route del blackhole "$(c_ip $m)/32"; done

# --- kill the owner host ------------------------------------------------------------
owner=$(c_owner alice)
c_ssh "$owner" 'echo survived-kill > ~/killtest; sync; sleep 60' > "$T/through-owner" 2>&1 &
sess=$!
sleep 2
tk=$(date +%s.%N)
c_kill_host "$owner"
ip link set "bc23$owner" down
ended=0
for i in $(seq 100); do kill -0 $sess 2>/dev/null || { ended=1; break; }; sleep 0.1; done
[ $ended = 1 ] && t_ok "killed $owner: her session through it ended" || t_fail "session through the dead host" "still up"
rest=$({ ip netns pids "$(c_ns "$owner")"; c_pids_of "$T/$owner.ini"; } | tr '\n' ' ')
[ -z "$rest" ] && t_ok "killed $owner: nothing of it runs on, its session processes (own namespaces) included" ||
    t_fail "nothing of the killed host runs on" "pids $rest"
other=$(for h in $HOSTS; do [ "$h" != "$owner" ] && echo $h; done | tail -1)
got=""
for i in $(seq 100); do
    got=$(c_ssh "$other" 'cat ~/killtest' 2>/dev/null) && [ "$got" = survived-kill ] && break
    sleep 0.2
done
tl=$(date +%s.%N)
if [ "$got" = survived-kill ]; then
    echo "$tk $tl" > "$B/test-results/cluster-death-to-login.txt"
    t_ok "after the lease expired her next login via $other worked, home intact ($(echo "$tl - $tk" | bc) s after the kill)"
else
    t_fail "login after the owner died" "$got"
fi
newowner=$(c_owner alice)
ip link set "bc23$owner" up
c_start "$owner" >/dev/null
sleep 3
c_ssh "$owner" true >/dev/null 2>&1
if [ "$(c_sandboxes "$owner" alice)" = 0 ] && [ "$(c_owner alice)" = "$newowner" ] && [ "$(c_total alice)" = 1 ]; then
    t_ok "$owner back: no second VM for alice (owner stays $newowner)"
else
    t_fail "dead host back" "on $owner: $(c_sandboxes "$owner" alice), owner $(c_owner alice), total $(c_total alice)"
fi
stale=$(find "/run/bc23$owner/vm" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | while read -r d; do
    [ -f "$d/burrowd" ] && grep -q "backend = sandbox" "$d/burrowd" && echo "$d"; done)
"$B/bin/burrowctl" -c "$T/$owner.ini" vm list >/dev/null 2>&1
stale=$(for d in $stale; do [ -d "$d" ] && echo "$d"; done)
[ -z "$stale" ] && t_ok "$owner cleaned up its dead VMs' records" || t_fail "cleanup on $owner" "$stale"

# --- the write log: never two writers of her disk at once ---------------------------
if python3 tests/cluster/nbdlog.py "$T/nbd.log" alice > "$T/nbdlog.out" 2>&1; then
    t_ok "NBD write log: $(tail -1 "$T/nbdlog.out")"
else
    t_fail "NBD write log" "$(tail -3 "$T/nbdlog.out")"
fi

# --- teardown leaves nothing of this run behind ------------------------------------
trap - EXIT
c_net_down
stray=$(c_pids_of "$T/" | wc -l) # what the namespaces did not hold: reaped by c_teardown
c_teardown
left=$(c_pids_of "$T/")
[ -z "$left" ] && t_ok "teardown: no process of this run is left ($stray outside its namespaces reaped)" ||
    t_fail "teardown" "left: $(for p in $left; do tr '\0' ' ' < "/proc/$p/cmdline"; echo; done)"
t_end
