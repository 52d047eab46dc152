#!/usr/bin/env bash
# tests/e2e/kvm.sh B - the e2e tier's kvm-backend group: the real OpenSSH
# client against burrowd with `backend = kvm` and a test-guest template
# built here (`testguest.mode=agent` answers session frames with built-in
# commands: tests/testguest/agent_session.c). Needs root and /dev/kvm.
# About 25 s.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/lib/testlib.sh
. tests/e2e/lib.sh
t_begin e2e-kvm "$B/test-results"

E2E_IMAGE=${E2E_IMAGE:-$B/sandbox/rootfs.cpio.gz} # e2e_setup copies it; unused by kvm
if [ "$(id -u)" != 0 ]; then t_fail setup "the e2e tier needs root"; t_end; exit 1; fi
[ -w /dev/kvm ] || { t_fail setup "no usable /dev/kvm"; t_end; exit 1; }
[ -f "$B/tests/testguest" ] || { t_fail setup "no test guest $B/tests/testguest"; t_end; exit 1; }
[ -f "$E2E_IMAGE" ] || { t_fail setup "no sandbox image $E2E_IMAGE"; t_end; exit 1; }

# kvm config: e2e_config writes [vm] backend = sandbox; switch it after each rewrite.
kvm_config() {
    e2e_config
    sed -i "s/^backend = sandbox/backend = kvm\ntemplate = tg\npool_size = 0/" "$T/burrow.ini"
    printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$KMPORT" >> "$T/burrow.ini"
}
KMPORT=$(e2e_free_port)
e2e_setup
trap e2e_cleanup EXIT
E2E_IDLE=600 kvm_config
if ! build=$($BCTL template build --name tg --kernel "$B/tests/testguest" --cmdline testguest.mode=agent \
        --mem 64 --vcpus 2 2>"$T/build.err"); then
    t_fail "template build" "$(tail -3 "$T/build.err")"; t_end; exit 1
fi
t_ok "test-guest template $build built and active"
if ! e2e_start; then t_fail start "burrowd did not start"; t_end; exit 1; fi
grep -q "vm backend: kvm (configured" "$T/log" && t_ok "backend = kvm accepted and logged" \
    || t_fail "backend = kvm" "$(grep 'vm backend' "$T/log")"

# Every ssh bounded, so a hung session fails the check instead of the tier.
kssh() { timeout 30 ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" alice@127.0.0.1 "$@"; }
vmid() { $BCTL vm list | awk -v u="$1" '$2 == u { print $1 }'; }
nvms() { $BCTL vm list | awk -v u="$1" '$2 == u' | wc -l; }

# --- first login forks a VM ---
out=$(kssh echo hello from the guest 2>&1); rc=$?
[ $rc = 0 ] && [ "$out" = "hello from the guest" ] && t_ok "ssh alice@host echo: the first login forks a VM" \
    || t_fail "first login" "rc=$rc out=$out $(tail -5 "$T/log")"
id1=$(vmid alice)
[ -n "$id1" ] && [ "$(nvms alice)" = 1 ] && grep -q "login: user=alice .* vm=$id1" "$T/log" \
    && grep -q "$id1 .*alice .*tg" <($BCTL vm list) \
    && t_ok "burrowctl vm list shows it (id $id1, user alice, template tg)" \
    || t_fail "vm list" "$($BCTL vm list) / $(grep 'login:' "$T/log" | tail -1)"
# The VMM reports its restore time with READY: one fork observed; status names the build.
m=$(curl -sf "http://127.0.0.1:$KMPORT/metrics")
st=$($BCTL status --json)
if grep -q '^burrow_vm_fork_seconds_count 1$' <<<"$m" && grep -q '^burrow_vm_ready_seconds_count 1$' <<<"$m" &&
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["backend"]=="kvm" and s["templates"]==[{"build":sys.argv[2],"vms":1}], s' "$st" "$build"; then
    t_ok "metrics: the fork's restore and READY latencies observed; status --json names build $build (1 VM)"
else
    t_fail "fork metrics and status" "$(grep -E '^burrow_vm_(fork|ready)_seconds_(count|sum)' <<<"$m" | tr '\n' ' ') $st"
fi
[ "$(kssh whoami)" = alice ] && [ "$(kssh hostname)" = burrow-alice ] \
    && t_ok "the VM got her identity (whoami, hostname)" || t_fail "identity" "$(kssh whoami)"
vpid=$(sed -n 's/^pid = //p' "$T/run/vm/$id1/meta")
vuid=$(awk '/^Uid:/ {print $2}' "/proc/$vpid/status" 2>/dev/null)
[ -n "$vuid" ] && [ "$vuid" -ge $((0x70000000)) ] && grep -q "^Seccomp:[[:space:]]*2" "/proc/$vpid/status" \
    && [ "$(readlink "/proc/$vpid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] \
    && [ "$(readlink "/proc/$vpid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] \
    && t_ok "the VMM process is jailed (uid $vuid, seccomp filter, own pid and mount namespaces)" \
    || t_fail "VMM jail" "pid=$vpid uid=$vuid $(grep Seccomp "/proc/$vpid/status" 2>/dev/null)"
con=$T/run/vm/$id1/console.log
grep -q "identity user=alice uid=[0-9]* hostname=burrow-alice disk=1" "$con" && grep -q "disk capacity=65536 sectors" "$con" \
    && t_ok "her 32 MiB home.img is attached to the VM (the guest sees 65536 sectors)" \
    || t_fail "home disk attached" "$(grep testguest "$con" 2>/dev/null | tail -3)"
out=$($BCTL user disk resize alice 64M 2>&1) && t_fail "home disk locked" "resize allowed: $out" \
    || { echo "$out" | grep -q "in use" && t_ok "her home disk is locked while the VM runs (resize refused)" \
    || t_fail "home disk locked" "$out"; }
kssh exit 3; rc=$?
[ $rc = 3 ] && t_ok "exit status propagates (exit 3 -> 3)" || t_fail "exit status" "rc=$rc"
sock=$T/run/vm/$id1/vsock.sock
uid=$(sed -n 's/^uid = //p' "$T/state/users/alice/user.ini")
[ -n "$uid" ] && [ "$(stat -c '%a %u' "$sock" 2>/dev/null)" = "600 $((0x50000000 + uid))" ] \
    && t_ok "vsock.sock is 0600 and owned by her session uid" || t_fail "socket owner" "$(ls -ln "$sock")"

# --- a second, concurrent session reuses the VM; a second VM for her is refused ---
rm -f "$T/fifo"; mkfifo "$T/fifo"
nlog=$(e2e_logins alice)
kssh cat < "$T/fifo" > "$T/cat.out" 2>&1 & catp=$!
exec 9> "$T/fifo"
e2e_wait_login alice $((nlog + 1))
out=$(kssh echo second); rc=$?
[ $rc = 0 ] && [ "$out" = second ] && [ "$(vmid alice)" = "$id1" ] && [ "$(nvms alice)" = 1 ] \
    && t_ok "a second concurrent session reuses the VM" || t_fail "concurrent session" "rc=$rc $out $($BCTL vm list)"
$BCTL vm fork --template tg --user alice > /dev/null 2>"$T/fork2.err"; rc=$?
[ $rc != 0 ] && grep -q "already has a VM" "$T/fork2.err" && t_ok "a second VM for the same user is refused" \
    || t_fail "second VM refused" "rc=$rc $(cat "$T/fork2.err")"
(echo "through the pipe" >&9) 2>/dev/null; exec 9>&-
wait $catp; rc=$?
[ $rc = 0 ] && grep -q "through the pipe" "$T/cat.out" && t_ok "stdin reaches the guest (cat), EOF ends it" \
    || t_fail "cat session" "rc=$rc $(cat "$T/cat.out")"

# --- restart: re-adopted, reused; a session that outlived the master holds off the idle reap ---
rm -f "$T/fifo"; mkfifo "$T/fifo"
nlog=$(e2e_logins alice)
kssh cat < "$T/fifo" > "$T/cat2.out" 2>&1 & catp=$!
exec 9> "$T/fifo"
e2e_wait_login alice $((nlog + 1))
kill -TERM "$BURROWD_PID"; wait "$BURROWD_PID" 2>/dev/null; BURROWD_PID=
e2e_start 9>&- || true # burrowd must not hold the fifo open
out=$(kssh echo again)
grep -q "vm $id1: re-adopted (user alice" "$T/log" && [ "$out" = again ] && [ "$(vmid alice)" = "$id1" ] \
    && t_ok "a restarted burrowd re-adopts the VM and the next session reuses it" \
    || t_fail "re-adopt" "$out $(grep -i adopt "$T/log" | tail -2)"
E2E_IDLE=2 kvm_config; kill -HUP "$BURROWD_PID"
sleep 4
(echo "still here" >&9) 2>/dev/null # a lost session fails below, not by SIGPIPE here
[ "$(vmid alice)" = "$id1" ] && ! grep -q "vm $id1: stopping" "$T/log" \
    && t_ok "a session that outlived the restart keeps the VM from the idle reap (VMM's conns count)" \
    || t_fail "idle with an old session" "$(grep "$id1" "$T/log" | tail -2)"
exec 9>&-
wait $catp; rc=$?
[ $rc = 0 ] && grep -q "still here" "$T/cat2.out" && t_ok "that session continued through the restart" \
    || t_fail "session across restart" "rc=$rc $(cat "$T/cat2.out")"

# --- idle reap: SHUTDOWN to the agent first, then the VM ends ---
for i in $(seq 60); do [ -z "$(vmid alice)" ] && break; sleep 0.25; done
[ -z "$(vmid alice)" ] && grep -q "vm $id1: stopping (idle)" "$T/log" \
    && grep -q "vm $id1: agent synced and unmounted the home disk" "$T/log" \
    && grep -q "vm $id1: stopped" "$T/log" && t_ok "idle reap ends the VM (the agent answered SHUTDOWN first)" \
    || t_fail "idle reap" "$($BCTL vm list) $(grep "$id1" "$T/log" | tail -3)"
E2E_IDLE=600 kvm_config; kill -HUP "$BURROWD_PID"; sleep 0.3

# --- a killed VMM is noticed; the next login gets a fresh VM ---
kssh echo up > /dev/null; id2=$(vmid alice)
pid2=$(sed -n 's/^pid = //p' "$T/run/vm/$id2/meta" 2>/dev/null)
[ -n "$pid2" ] && kill -KILL "$pid2"
for i in $(seq 40); do grep -q "vm $id2: died unexpectedly" "$T/log" && break; sleep 0.1; done
out=$(kssh echo fresh); id3=$(vmid alice)
grep -q "vm $id2: died unexpectedly" "$T/log" && [ "$out" = fresh ] && [ -n "$id3" ] && [ "$id3" != "$id2" ] \
    && t_ok "a killed VMM is noticed and the next login gets a fresh VM ($id2 -> $id3)" \
    || t_fail "killed VMM" "id2=$id2 id3=$id3 out=$out $(grep -E "$id2" "$T/log" | tail -2)"

# --- burrowctl vm kill goes through burrowd: the session is told ---
rm -f "$T/fifo"; mkfifo "$T/fifo"
nlog=$(e2e_logins alice)
kssh cat < "$T/fifo" > /dev/null 2>"$T/kill.err" & catp=$!
exec 9> "$T/fifo"
e2e_wait_login alice $((nlog + 1))
kout=$($BCTL vm kill "$id3" 2>&1); krc=$?
wait $catp; rc=$?
exec 9>&-
[ $krc = 0 ] && [ $rc = 255 ] && grep -q "stopped by an administrator" "$T/kill.err" && [ -z "$(vmid alice)" ] \
    && grep -q "vm $id3: stopping (killed by an administrator)" "$T/log" \
    && t_ok "burrowctl vm kill goes through burrowd: the session is told (exit 255)" \
    || t_fail "vm kill via burrowd" "krc=$krc $kout rc=$rc $(cat "$T/kill.err")"
# --- vm kill under one connection with three busy channels (ControlMaster):
#     VM_GONE ends them all; the session once removed libssh poll handles from
#     inside libssh's poll loop, which then called a freed one: SIGSEGV when
#     the agent connections had events in the same round (see on_master) ---
CMS="$T/cm.sock"
timeout 60 ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" -M -S "$CMS" -N \
    alice@127.0.0.1 2>"$T/cm.err" & cmp=$!
for i in $(seq 100); do [ -S "$CMS" ] && [ -n "$(vmid alice)" ] && break; sleep 0.1; done
id4=$(vmid alice); mpids=()
for k in 1 2 3; do # the test guest serves 3 sessions; small lines keep each channel busy
    (while :; do echo x; sleep 0.01; done) | timeout 30 ssh -S "$CMS" alice@127.0.0.1 cat > /dev/null 2>"$T/mux$k.err" & mpids+=($!)
done
sleep 1.5
# Stopped while the VM goes: VM_GONE and the agent connections' hang-ups then
# arrive in the same poll round, the ordering that crashed it.
spids=$(pgrep -P "$BURROWD_PID"); [ -n "$spids" ] && kill -STOP $spids
kout=$($BCTL vm kill "$id4" 2>&1); krc=$?
sleep 0.5; [ -n "$spids" ] && kill -CONT $spids
mrcs=""; for p in "${mpids[@]}"; do wait "$p"; mrcs="$mrcs $?"; done
kill "$cmp" 2>/dev/null; wait "$cmp" 2>/dev/null
[ -n "$id4" ] && [ $krc = 0 ] && [ "$mrcs" = " 255 255 255" ] && [ "$(grep -lE "stopped by an administrator|connection to your environment was lost" "$T"/mux?.err | wc -l)" = 3 ] \
    && ! grep -q "crashed" "$T/log" \
    && t_ok "vm kill with VM_GONE and hang-ups in one poll round: three channels of one connection told (exit 255), no crash" \
    || t_fail "vm kill, several channels" "id4=$id4 krc=$krc $kout rcs=$mrcs $(cat "$T"/mux?.err | head -4) $(grep crashed "$T/log" | head -2)"
# --- the warm pool: logins claim pre-restored VMs; burrowd refills it in the background ---
npool() { # [BUILD]: pooled VMs (of BUILD)
    $BCTL vm list --json | python3 -c 'import json,sys
b = sys.argv[1]
print(sum(1 for v in json.load(sys.stdin) if v["state"] == "pool" and b in ("", v["build"])))' "${1:-}"
}
wait_pool() { # N [BUILD]: up to 30 s for exactly N pooled VMs (of BUILD)
    for _ in $(seq 300); do [ "$(npool "${2:-}")" = "$1" ] && return 0; sleep 0.1; done
    return 1
}
vmfield() { # ID FIELD
    $BCTL vm list --json | python3 -c 'import json,sys
for v in json.load(sys.stdin):
    if v["id"] == sys.argv[1]: print(v[sys.argv[2]])' "$1" "$2"
}
pool_ids() { $BCTL vm list | awk '$4 == "pool" { print $1 }' | sort | tr '\n' ' '; }
E2E_IDLE=600 kvm_config
sed -i 's/^pool_size = 0/pool_size = 2/' "$T/burrow.ini"
kill -HUP "$BURROWD_PID"
wait_pool 2 "$build" && t_ok "pool_size 2 after SIGHUP: burrowd fills the pool in the background (2 pooled VMs of $build)" \
    || t_fail "pool fill" "$(npool) pooled: $($BCTL vm list)"
before=$(pool_ids)
out=$(kssh hostname); idp=$(vmid alice)
[ "$out" = burrow-alice ] && [ -n "$idp" ] && [[ " $before " == *" $idp "* ]] && [ "$(vmfield "$idp" origin)" = pool ] \
    && python3 -c 'import sys; r, y = map(float, sys.argv[1:]); sys.exit(0 if 0 < r <= y else 1)' \
        "$(vmfield "$idp" restore_ms)" "$(vmfield "$idp" ready_ms)" \
    && t_ok "a login is served from the pool: her VM $idp was pooled, its record says origin pool with restore_ms/ready_ms, hostname burrow-alice" \
    || t_fail "login from the pool" "out=$out id=$idp pooled before: $before origin=$(vmfield "$idp" origin)"
sock=$T/run/vm/$idp/vsock.sock
[ "$(stat -c '%a %u' "$sock" 2>/dev/null)" = "600 $((0x50000000 + uid))" ] \
    && grep -q "identity user=alice uid=[0-9]* hostname=burrow-alice disk=1" "$T/run/vm/$idp/console.log" \
    && t_ok "the claimed VM got her disk, her identity and a vsock.sock owned by her session uid" \
    || t_fail "claimed VM set-up" "$(ls -ln "$sock") $(grep identity "$T/run/vm/$idp/console.log")"
wait_pool 2 "$build" && t_ok "after the claim the pool is back to pool_size (2)" || t_fail "pool refill" "$(npool) pooled"
# Pooled VMs outlive a master restart, like running ones: the same ones, no more.
before=$(pool_ids)
kill -TERM "$BURROWD_PID"; wait "$BURROWD_PID" 2>/dev/null; BURROWD_PID=
e2e_start || true
sleep 3 # a few pool ticks
[ "$(pool_ids)" = "$before" ] && [ "$(vmid alice)" = "$idp" ] \
    && t_ok "a restarted burrowd keeps the pooled VMs ($before) and her running VM; none leaked or added" \
    || t_fail "pool across a restart" "before: $before after: $(pool_ids) alice: $(vmid alice)"
# A template switch: the old build's pooled VMs go, the new build's come, the next login gets it.
build2=$($BCTL template build --name tg --kernel "$B/tests/testguest" --cmdline testguest.mode=agent \
    --mem 64 --vcpus 2 2>"$T/build2.err")
wait_pool 2 "$build2" && wait_pool 0 "$build" && t_ok "template switch to $build2: pooled VMs of $build retired, 2 of $build2 made" \
    || t_fail "pool after a template switch" "$(cat "$T/build2.err") $($BCTL vm list)"
$BCTL vm kill "$idp" >/dev/null 2>&1
out=$(kssh echo new build); idn=$(vmid alice)
[ "$out" = "new build" ] && [ "$(vmfield "$idn" build)" = "$build2" ] && [ "$(vmfield "$idn" origin)" = pool ] \
    && t_ok "after the switch her next login gets a VM of $build2 (from the pool)" \
    || t_fail "login after the switch" "$out $idn $(vmfield "$idn" build) $(vmfield "$idn" origin)"
# pool_size back to 0: the pool is emptied; logins fork fresh.
$BCTL vm kill "$idn" >/dev/null 2>&1
E2E_IDLE=600 kvm_config; kill -HUP "$BURROWD_PID"
wait_pool 0 && out=$(kssh echo fresh again) && idf=$(vmid alice) && [ "$out" = "fresh again" ] \
    && [ "$(vmfield "$idf" origin)" = fresh ] && [ "$(npool)" = 0 ] \
    && t_ok "pool_size 0 after SIGHUP: pooled VMs retired, the next login forks fresh" \
    || t_fail "pool_size 0" "$(npool) pooled, $out $(vmfield "$idf" origin)"
$BCTL vm kill "$idf" >/dev/null 2>&1

# --- a login storm: 50 users at once, max_vms 40, pool_size 2: every login gets its
#     VM or a clear refusal within a bounded wait; afterwards nothing is left over ---
STORM=50
for i in $(seq $STORM); do $BCTL user add "s$i" --key-file "$T/alice.pub" --disk-size 16M >/dev/null; done
E2E_MAX_VMS=40 E2E_IDLE=600 kvm_config
sed -i 's/^pool_size = 0/pool_size = 2/' "$T/burrow.ini"
kill -HUP "$BURROWD_PID"
wait_pool 2 "$build2"
running() { $BCTL vm list | awk '$4 == "running" && $2 ~ /^s[0-9]+$/' | wc -l; }
# storm: every storm user logs in at once; sets got, refused, took.
storm() {
    local i spids=() t0=$SECONDS
    rm -f "$T"/storm.*
    for i in $(seq $STORM); do
        # ssh takes the first ConnectTimeout given: 50 session processes starting at once in the
        # nested L1 (every instruction emulated) send their banners later than SSHO's 10 s.
        timeout 300 ssh -o ConnectTimeout=120 "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes \
            -i "$T/alice" "s$i@127.0.0.1" \
            echo "ok-s$i" >"$T/storm.$i" 2>&1 &
        spids+=($!)
    done
    wait "${spids[@]}" # not burrowd, a background job of this shell too
    took=$((SECONDS - t0))
    got=$(grep -l "^ok-s[0-9]*$" "$T"/storm.* | wc -l)
    refused=$(grep -l "limit of running environments" "$T"/storm.* | wc -l)
}
# storm_misses: what the users who got neither their VM nor a refusal said, and why, from
# burrowd's log after line $1, and what their VMs logged.
storm_misses() {
    local f u d
    echo "the others said: $(grep -Lh "^ok-s\|limit of" "$T"/storm.* | xargs cat 2>/dev/null | sort | uniq -c | sort -rn | head -5 | tr '\n' ';'); burrowd: $(tail -n +"$1" "$T/log" | grep -h 'failed to start\|not start\|did not report\|cannot reach\|error' | sed 's/^[^:]*: //' | sort | uniq -c | sort -rn | head -6 | tr '\n' ';')"
    local id
    for f in $(grep -L "^ok-s\|limit of" "$T"/storm.* | head -n 2); do
        u=s${f##*.}
        id=$(grep -o "login: user=$u .* vm=[0-9a-f]*" "$T/log" | tail -n 1 | sed 's/.*vm=//')
        [ -n "$id" ] || continue
        d=$T/run/vm/$id
        echo "$u's VM $id: burrowd: $(grep "$id" "$T/log" | sed 's/^[^:]*: //' | head -n 6 | tr '\n' ';')"
        [ -d "$d" ] && echo "vmm.log: $(tail -n 4 "$d/vmm.log" | tr '\n' ';') console: $(tail -n 6 "$d/console.log" | tr '\n' ';')"
    done | tr '\n' ' '
}
# storm_end: every storm user's VM killed, in parallel.
storm_end() {
    local id kpids=()
    for id in $($BCTL vm list | awk '$4 == "running" && $2 ~ /^s[0-9]+$/ { print $1 }'); do
        $BCTL vm kill "$id" >/dev/null 2>&1 &
        kpids+=($!)
    done
    wait "${kpids[@]}"
}
from=$(($(wc -l <"$T/log") + 1))
storm
# In the nested L1, the emulated SVM now and then stalls an L2 guest before READY
# (docs/testing.md: the nested cases rerun a case once for it). A storm whose only
# misses there are such start failures (each a clear "failed to start" to her) runs
# once more, after its VMs are gone; the second round must pass in full.
misses=$((STORM - got - refused))
if [ "${NESTED_L1:-}" = 1 ] && [ "$misses" -gt 0 ] && [ "$misses" -le 3 ] &&
    [ "$(grep -L "^ok-s\|limit of" "$T"/storm.* | xargs grep -L "failed to start" | wc -l)" = 0 ] &&
    [ "$(tail -n +"$from" "$T/log" | grep -c "failed to start for s[0-9]*: \(the guest did not report READY\|.*triple fault\)")" = "$misses" ]; then
    echo "storm: in the nested L1, $misses VM(s) did not start ($(tail -n +"$from" "$T/log" | grep -o "failed to start for s[0-9]*: [^;]*" | head -n 3 | tr '\n' ';')); once more"
    storm_end
    wait_pool 2 "$build2"
    from=$(($(wc -l <"$T/log") + 1))
    storm
fi
[ "$got" = 40 ] && [ "$refused" = 10 ] && [ "$(running)" = 40 ] \
    && t_ok "$STORM logins at once: 40 got their VM (max_vms 40), 10 a clear refusal, all within $took s" \
    || t_fail "login storm" "$got in, $refused refused, $(running) running after $took s; $(storm_misses "$from")"
storm_end
leftover=$(ls -d "$T"/run/vm/*/ 2>/dev/null | wc -l)
locks=0
for i in 1 17 33 50; do $BCTL user disk resize "s$i" 32M >/dev/null 2>&1 || locks=$((locks + 1)); done
wait_pool 2 "$build2" && [ "$(running)" = 0 ] && [ "$locks" = 0 ] && [ "$leftover" = 2 ] \
    && ! tail -n +"$from" "$T/log" | grep -q "crashed\|did not report" \
    && t_ok "after the storm: no VM, registry entry or disk lock left over; the pool is back to 2" \
    || t_fail "storm leftovers" "running $(running), run dirs $leftover, locked disks $locks, pool $(npool); burrowd: $(tail -n +"$from" "$T/log" | grep -h 'crashed\|did not report' | head -3 | tr '\n' ';')"

crashes=$(grep -c "crashed" "$T/log")
[ "$crashes" = 0 ] && t_ok "no session process crashed" || t_fail "session crashes" "$(grep crashed "$T/log" | head -3; grep -A30 'backtrace:$' "$T/log" | head -60)"
t_end
