#!/usr/bin/env bash
# tests/e2e/ops.sh B - the e2e tier's operations group (e2e-ops): what an
# operator sees of burrowd (docs/operations.md, docs/audit.md). burrowd runs
# with the sandbox backend under the systemd unit's CapabilityBoundingSet and
# NoNewPrivileges (setpriv), with [metrics] and [audit] on. A scripted set of
# logins - ok, wrong key, exec with exit 3, sftp, ssh -L - then the metrics
# (scraped with curl, checked by promtool) and the audit lines (every line
# parsed as JSON) must be exactly what happened: no line lost, none invented.
# Then session list / session kill (the client sees the connection close),
# status --json against the metrics, a SIGHUP that reopens a rotated audit
# file and moves /metrics to a unix socket, and burrowd -t. Needs root. ~20 s.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/lib/testlib.sh
. tests/e2e/lib.sh
t_begin e2e-ops "$B/test-results"

E2E_IMAGE=${E2E_IMAGE:-$B/sandbox/rootfs.cpio.gz}
if [ "$(id -u)" != 0 ]; then t_fail setup "the e2e tier needs root"; t_end; exit 1; fi
for tool in ssh sftp curl promtool python3 setpriv; do
    command -v $tool >/dev/null || { t_fail setup "$tool is missing (make deps installs it)"; t_end; exit 1; }
done
[ -f "$E2E_IMAGE" ] || { t_fail setup "no sandbox image $E2E_IMAGE"; t_end; exit 1; }
unit=$B/systemd/burrowd.service
[ -f "$unit" ] || { t_fail setup "no $unit (make builds it)"; t_end; exit 1; }

e2e_setup
trap e2e_cleanup EXIT
MPORT=$(e2e_free_port)
cat >> "$T/burrow.ini" <<INI
[metrics]
listen = 127.0.0.1:$MPORT
[audit]
file = $T/audit/audit.log
INI
AUDIT=$T/audit/audit.log

# The unit's capabilities, as systemd would bound them: "CAP_X CAP_Y" -> "-all,+x,+y".
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g')
E2E_WRAP="setpriv --bounding-set=-all,+$caps --inh-caps=-all --no-new-privs --"
if ! e2e_start; then t_fail start "burrowd did not start under $E2E_WRAP"; t_end; exit 1; fi
t_ok "burrowd starts with only the unit's CapabilityBoundingSet and NoNewPrivileges"
grep -q "^CapBnd:.*" /proc/"$BURROWD_PID"/status && \
    [ "$(grep ^NoNewPrivs: /proc/"$BURROWD_PID"/status | awk '{print $2}')" = 1 ] ||
    t_fail "setpriv applied" "$(grep -E 'CapBnd|NoNewPrivs' /proc/"$BURROWD_PID"/status)"

fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }
scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics"; }
# Wait until burrowd has no connection left (every session process reaped).
settle() {
    local i
    for i in $(seq 100); do
        scrape | grep -qx 'burrow_connections_active 0' && return 0
        sleep 0.1
    done
    return 1
}

# --- the scripted logins --------------------------------------------------
e2e_ssh alice alice true; rc_true=$?
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -b 127.0.0.2 -i "$T/wrong" alice@127.0.0.1 true 2>/dev/null
rc_wrong=$?
e2e_ssh alice alice 'exit 3'; rc_exit3=$?
head -c 100000 /dev/urandom > "$T/sf"
printf 'put %s sf\nget sf %s\n' "$T/sf" "$T/sf.back" | sftp -b - -P "$PORT" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes \
    -i "$T/alice" alice@127.0.0.1 >/dev/null 2>&1
cmp -s "$T/sf" "$T/sf.back"; rc_sftp=$?
lport=$(e2e_free_port)
e2e_ssh alice alice 'busybox nc -l -p 8081 -e echo hello-from-inside' >/dev/null 2>&1 & ncp=$!
sleep 1
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -i "$T/alice" -N \
    -L "$lport:127.0.0.1:8081" alice@127.0.0.1 & fwd=$!
got=""
for i in $(seq 30); do
    got=$(python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$lport)); print(s.recv(100).decode().strip())" 2>/dev/null) && break
    sleep 0.2
done
kill $fwd 2>/dev/null; wait $fwd 2>/dev/null
wait $ncp
if [ $rc_true = 0 ] && [ $rc_wrong = 255 ] && [ $rc_exit3 = 3 ] && [ $rc_sftp = 0 ] && [ "$got" = hello-from-inside ]; then
    t_ok "scripted logins: ok, wrong key, exit 3, sftp, ssh -L"
else
    t_fail "scripted logins" "true=$rc_true wrong=$rc_wrong exit3=$rc_exit3 sftp=$rc_sftp -L='$got'"
fi
settle || t_fail settle "connections still open: $(scrape | grep ^burrow_connections_active)"
scrape > "$T/metrics.1"

# What happened, connection by connection, in order (the -L forward's target
# port is the listener's; bytes_out of the forward is what nc sent).
cat > "$T/expect.json" <<JSON
{"alice_fp": "$(fp "$T/alice.pub")", "wrong_fp": "$(fp "$T/wrong.pub")",
 "sftp_bytes": $(stat -c %s "$T/sf"),
 "connections": [
  {"from": "127.0.0.1", "auth": [["alice", true]], "sessions": [["exec", "true", 0]]},
  {"from": "127.0.0.2", "auth": [["alice", false]], "sessions": []},
  {"from": "127.0.0.1", "auth": [["alice", true]], "sessions": [["exec", "exit 3", 3]]},
  {"from": "127.0.0.1", "auth": [["alice", true]], "sessions": [["sftp", null, 0]]},
  {"from": "127.0.0.1", "auth": [["alice", true]], "sessions": [["exec", "busybox nc -l -p 8081 -e echo hello-from-inside", 0]]},
  {"from": "127.0.0.1", "auth": [["alice", true]], "sessions": [["direct-tcpip", "127.0.0.1:8081", null]]}
 ]}
JSON
out=$(python3 tests/e2e/ops_check.py scenario "$AUDIT" "$T/metrics.1" "$T/expect.json" 2>&1)
if [ $? = 0 ]; then t_ok "audit lines and metrics are exactly the scripted logins ($out)"
else t_fail "audit lines and metrics match the logins" "$out"; fi
out=$(promtool check metrics < "$T/metrics.1" 2>&1)
[ $? = 0 ] && t_ok "promtool check metrics: clean" || t_fail "promtool check metrics" "$out"

# --- session list / kill ----------------------------------------------------
e2e_ssh alice alice 'sleep 30' > /dev/null 2>"$T/killed.err" & p=$!
id=""
for i in $(seq 50); do
    id=$($BCTL session list --user alice --json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["id"] if len(l)==1 and l[0]["channels"]==1 else "")' 2>/dev/null)
    [ -n "$id" ] && break
    sleep 0.1
done
listed=$($BCTL session list)
status_json=$($BCTL status --json)
scrape > "$T/metrics.2"
out=$(python3 tests/e2e/ops_check.py status "$status_json" "$T/metrics.2" 2>&1)
[ $? = 0 ] && t_ok "status --json parses and matches the metrics and the live session ($out)" \
    || t_fail "status --json" "$out"
$BCTL session kill "$id" > /dev/null; rc_kill=$?
wait $p; rc=$?
case "$listed" in *"$id"*alice*active*)
    if [ -n "$id" ] && [ $rc_kill = 0 ] && [ $rc = 255 ] && grep -q "ended by an administrator" "$T/killed.err"; then
        t_ok "session list shows the live session; session kill ends it (client: exit 255, told why)"
    else t_fail "session kill" "id=$id kill=$rc_kill ssh=$rc err=$(tr -d '\r' < "$T/killed.err")"; fi;;
    *) t_fail "session list" "$listed";; esac
settle
out=$(python3 tests/e2e/ops_check.py killed "$AUDIT" "$id" 2>&1)
[ $? = 0 ] && t_ok "the kill is audited: admin session.kill, session_end 255, connection_closed killed" \
    || t_fail "session kill audit" "$out"
$BCTL session kill 000000000000 2>"$T/err"; rc1=$?
$BCTL session kill nothex 2>"$T/err2"; rc2=$?
[ $rc1 = 1 ] && [ $rc2 = 2 ] && t_ok "session kill: unknown id exits 1, malformed id exits 2" \
    || t_fail "session kill errors" "unknown=$rc1 malformed=$rc2"

# --- rotation (SIGHUP reopens the audit file), metrics on a unix socket -------
mv "$AUDIT" "$AUDIT.1"
sed -i "s|^listen = 127.0.0.1:$MPORT|listen = $T/metrics.sock|" "$T/burrow.ini"
kill -HUP "$BURROWD_PID"
for i in $(seq 50); do [ -S "$T/metrics.sock" ] && break; sleep 0.1; done
e2e_ssh alice alice true
settle_unix() { curl -sf --unix-socket "$T/metrics.sock" http://burrow/metrics; }
m=$(settle_unix)
if [ -f "$AUDIT" ] && [ "$(grep -c '"command":"true"' "$AUDIT")" = 1 ] && [ "$(grep -c '"command":"true"' "$AUDIT.1")" = 1 ] &&
    grep -q '^burrow_channels_total{type="exec"} 5$' <<<"$m" && [ "$(stat -c %a "$T/metrics.sock")" = 600 ]; then
    t_ok "SIGHUP: the rotated audit file is reopened; /metrics moves to a unix socket (0600)"
else
    t_fail "SIGHUP reopen" "audit: $(ls "$T/audit") true: $(grep -c '"command":"true"' "$AUDIT" "$AUDIT.1" | tr '\n' ' ') socket $(stat -c %a "$T/metrics.sock") metrics: $(grep '^burrow_channels_total' <<<"$m" | tr '\n' ' ')"
fi
$BCTL user lock carol >/dev/null
grep -q '"event":"admin".*"action":"user.lock","target":"carol","result":"ok","via":"burrowctl"' "$AUDIT" \
    && t_ok "burrowctl's administrative commands are audited by burrowd" \
    || t_fail "admin audit" "$(grep admin "$AUDIT" | tail -2)"

# --- burrowd -t --------------------------------------------------------------------
out=$("$B/bin/burrowd" -t -c "$T/burrow.ini" 2>&1); rc=$?
cp "$T/burrow.ini" "$T/bad.ini"; printf '[metrics]\nlisten = 0.0.0.0:9\n' >> "$T/bad.ini"
bad=$("$B/bin/burrowd" -t -c "$T/bad.ini" 2>&1); rcb=$?
if [ $rc = 0 ] && [[ "$out" == *"configuration OK"* ]] && [ $rcb = 2 ] && [[ "$bad" == *"[metrics] listen"*loopback* ]]; then
    t_ok "burrowd -t: OK for the running config, exit 2 naming [metrics] listen for a bad one"
else
    t_fail "burrowd -t" "rc=$rc $out / rc=$rcb $bad"
fi
crashes=$(grep -c "crashed" "$T/log")
[ "$crashes" = 0 ] && t_ok "no session process crashed" || t_fail "session crashes" "$(grep -A20 crashed "$T/log" | head -30)"
t_end
