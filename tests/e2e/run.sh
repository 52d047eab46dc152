#!/usr/bin/env bash
# tests/e2e/run.sh B - the end-to-end tier: the real OpenSSH client (ssh, scp,
# sftp) against burrowd with the sandbox backend on a free port, temp state.
# Needs root (namespaces, loop devices). ~1 minute.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/lib/testlib.sh
. tests/e2e/lib.sh
t_begin e2e "$B/test-results"

e2e_pick_image
if [ "$(id -u)" != 0 ]; then t_fail setup "the e2e tier needs root (namespaces, loop devices)"; t_end; exit 1; fi
for tool in ssh scp sftp python3; do
    command -v $tool >/dev/null || { t_fail setup "$tool is missing"; t_end; exit 1; }
done
[ -f "$E2E_IMAGE" ] || { t_fail setup "no sandbox image $E2E_IMAGE"; t_end; exit 1; }
echo "e2e: sandbox image $E2E_IMAGE"

e2e_setup
trap e2e_cleanup EXIT
if ! e2e_start; then t_fail start "burrowd did not start"; t_end; exit 1; fi
t_ok "readiness notified (READY=1 on NOTIFY_SOCKET)"
grep -q "vm backend: sandbox" "$T/log" && t_ok "backend choice logged" || t_fail "backend choice logged" "$(head -5 "$T/log")"
grep -q "generated SSH host keys" "$T/log" && [ "$(stat -c %a "$T/state/hostkeys/ssh_host_ed25519_key")" = 600 ] \
    && t_ok "host keys generated (0600) with fingerprints printed" || t_fail "host keys" "$(ls -l "$T/state/hostkeys")"

fp=$(ssh-keygen -lf "$T/state/hostkeys/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
hk=$($BCTL hostkeys)
[ "$(echo "$hk" | wc -l)" = 3 ] && echo "$hk" | grep -q "ssh-ed25519 *$fp " && grep -q "$fp" "$T/log" \
    && t_ok "burrowctl hostkeys shows the fingerprints burrowd printed" || t_fail "burrowctl hostkeys" "$hk"

# --- basics ---
t_check "ssh alice@host true" e2e_ssh alice alice true
e2e_ssh alice alice 'exit 3'; rc=$?
[ $rc = 3 ] && t_ok "exit code 3 propagates" || t_fail "exit code 3 propagates" "got $rc"
e2e_ssh alice alice 'kill -TERM $$'; rc=$?
[ $rc = 255 ] && t_ok "exit-signal reported (ssh exits 255)" || t_fail "exit-signal reported" "got $rc"
out=$(e2e_ssh alice alice 'echo out; echo err >&2' 2>"$T/err")
[ "$out" = out ] && [ "$(cat "$T/err")" = err ] && t_ok "stdout and stderr kept apart" || t_fail "stdout/stderr" "out=$out err=$(cat "$T/err")"
head -c $((24 << 20)) /dev/urandom > "$T/big"
want=$(sha256sum < "$T/big" | cut -d' ' -f1)
got=$(e2e_ssh alice alice 'cat > /tmp/big; sha256sum < /tmp/big' < "$T/big" | cut -d' ' -f1)
back=$(e2e_ssh alice alice 'cat /tmp/big; rm /tmp/big' | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && [ "$back" = "$want" ] && t_ok "24 MiB through stdin and back, checksums equal" \
    || t_fail "large stdin" "want $want got $got back $back"
t_check "interactive ssh -t through a pty; stty size follows a window change" \
    timeout 60 python3 tests/e2e/ptyshell.py "${SSHO[@]}" -o IdentitiesOnly=yes -i "$T/alice" alice@127.0.0.1
SCPO=(-P "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice")
head -c 3000000 /dev/urandom > "$T/f1"
if scp "${SCPO[@]}" "$T/f1" alice@127.0.0.1:f1 && scp "${SCPO[@]}" alice@127.0.0.1:f1 "$T/f1.back" && cmp -s "$T/f1" "$T/f1.back"; then
    t_ok "scp round trip"; else t_fail "scp round trip" "files differ or scp failed"; fi
printf 'put %s f2\nget f2 %s\n' "$T/f1" "$T/f2.back" | sftp -b - "${SCPO[@]}" alice@127.0.0.1 >/dev/null
cmp -s "$T/f1" "$T/f2.back" && t_ok "sftp round trip" || t_fail "sftp round trip" "files differ"

# --- environments ---
e2e_ssh alice alice 'echo shared-$$ > /tmp/marker; sleep 4' & p1=$!
sleep 1.5
m=$(e2e_ssh alice alice 'cat /tmp/marker; hostname')
ka=$(ss -tnoH state established "( sport = :$PORT )" 2>&1)
case "$ka" in *timer:\(keepalive*) t_ok "an SSH connection has TCP keep-alive on (as OpenSSH's TCPKeepAlive)" ;;
    *) t_fail "TCP keep-alive on SSH connections" "ss: $ka" ;; esac
wait $p1
case "$m" in shared-*burrow-alice) t_ok "two concurrent sessions share one environment";;
    *) t_fail "two sessions share one environment" "$m";; esac
n=$(grep -c "starting for alice" "$T/log")
[ "$n" = 1 ] && t_ok "one VM per user across sessions" || t_fail "one VM per user" "started $n times"
out=$(e2e_ssh alice alice 'ls /home; ls /; id -u' 2>&1)
case "$out" in *alice*sbin*10000*) t_ok "sandbox root is the guest image, home mounted, user uid";;
    *) t_fail "sandbox root" "$out";; esac
lport=$(e2e_free_port)
(e2e_ssh alice alice 'busybox nc -l -p 8081 -e echo hello-from-inside' >/dev/null 2>&1 &)
sleep 1
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" -N -L "$lport:127.0.0.1:8081" alice@127.0.0.1 & fwd=$!
sleep 1
got=$(python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$lport)); print(s.recv(100).decode().strip())" 2>&1)
kill $fwd 2>/dev/null; wait $fwd 2>/dev/null
[ "$got" = hello-from-inside ] && t_ok "ssh -L to a listener inside the environment" || t_fail "ssh -L" "$got"
e2e_ssh alice alice -6 true 2>/dev/null || ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" alice@::1 true
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" alice@::1 true \
    && t_ok "IPv6 ::1 works" || t_fail "IPv6 ::1" "login over ::1 failed"

# --- authentication ---
# Failing logins come from other loopback sources: 127.0.0.1 must not get penalised.
refusal() { ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -b 127.0.0.2 "$@" true 2>&1 | grep -v Welcome | tr -d '\r' | sed 's/^[^:]*: //'; }
a=$(refusal -i "$T/wrong" alice@127.0.0.1)
u=$(refusal -i "$T/alice" nosuchuser@127.0.0.1)
l=$(refusal -i "$T/alice" carol@127.0.0.1)
if [ -n "$a" ] && [ "$a" = "$u" ] && [ "$a" = "$l" ] && ! e2e_ssh alice wrong true 2>/dev/null; then
    t_ok "wrong key, unknown user, locked user refused alike ($a)"
else t_fail "refused alike" "wrong='$a' unknown='$u' locked='$l'"; fi
out=$(e2e_ssh dave dave "ls / it's" 2>/dev/null)
pty=$(e2e_ssh dave dave -tt 'ls /' 2>&1; echo "rc=$?")
case "$out" in "forced:ls / it's"*"not a tty"*) case "$pty" in *"PTY allocation request failed"*rc=255*)
    t_ok "authorized_keys command= (with SSH_ORIGINAL_COMMAND) and restrict (no pty) honoured";;
    *) t_fail "restrict: no pty" "$pty";; esac;;
    *) t_fail "command=" "$out";; esac
lport2=$(e2e_free_port)
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -i "$T/dave" -N \
    -L "$lport2:127.0.0.1:22" dave@127.0.0.1 & fwd=$!
sleep 1.5
got=$(python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$lport2)); s.settimeout(3); print(repr(s.recv(100)))" 2>&1)
kill $fwd 2>/dev/null; wait $fwd 2>/dev/null
case "$got" in "b''"|*Refused*|*reset*) t_ok "restrict refuses port forwarding";; *) t_fail "restrict port forwarding" "$got";; esac
e2e_ssh erin erin -b 127.0.0.5 true 2>/dev/null && t_fail "from= honoured" "login from 127.0.0.5 worked" \
    || t_ok "authorized_keys from= honoured"
printf '#!/bin/sh\necho "$E2E_PW"\n' > "$T/askpass"; chmod +x "$T/askpass"
pw() { E2E_PW=$1 SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=: \
       ssh "${SSHO[@]}" -b "${3:-127.0.0.1}" -o PubkeyAuthentication=no -o PreferredAuthentications=password \
       -o NumberOfPasswordPrompts=1 "$2@127.0.0.1" true 2>&1 | grep -v Welcome | tr -d '\r' | sed 's/^[^:]*: //'; }
ok=$(pw sesame-1234 bob; echo "rc=${PIPESTATUS[0]}")
bad=$(pw wrong-pass bob 127.0.0.3); unk=$(pw sesame-1234 nobody_here 127.0.0.3)
case "$ok" in *"rc=0"*) [ -n "$bad" ] && [ "$bad" = "$unk" ] \
    && t_ok "password login works; wrong password and unknown user refused alike" \
    || t_fail "password refusals alike" "bad='$bad' unknown='$unk'";;
    *) t_fail "password login" "$ok";; esac
ssh-keygen -q -t ed25519 -N '' -f "$T/w2"; ssh-keygen -q -t ed25519 -N '' -f "$T/w3"
E2E_MAX_AUTH_TRIES=2; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
out2=$(ssh "${SSHO[@]}" -b 127.0.0.4 -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/wrong" -i "$T/w2" -i "$T/w3" \
      -i "$T/alice" alice@127.0.0.1 true 2>&1); rc2=$?
E2E_MAX_AUTH_TRIES=6; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
[ $rc2 != 0 ] && e2e_ssh alice alice true \
    && t_ok "max_auth_tries honoured (4th key never tried at max_auth_tries=2)" \
    || t_fail "max_auth_tries" "rc=$rc2 $out2"
grep -q "configuration reloaded" "$T/log" && t_ok "SIGHUP reloads the configuration" || t_fail "SIGHUP reload" "no log line"
# Queries for an authorized key ("would it do?", never signed) are no failures,
# but as in OpenSSH every request is an attempt and 1024 of them end the connection.
probes=$("$B/tests/e2e/sshprobe" "$PORT" alice "$T/alice.pub" 1100 2>&1)
[ "$probes" = 1024 ] && grep -q "1024 authentication attempts: no more" "$T/log" \
    && t_ok "key queries are attempts: the 1025th of 1100 ends the connection" \
    || t_fail "key query attempts" "answered $probes of 1100"

# --- admission ---
# max_startups 2:100:2: with two unauthenticated connections open, a third is dropped.
E2E_MAX_STARTUPS=2:100:2; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
res=$(python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1]); held = []
for i in range(2):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
    held.append(s); s.recv(64)              # the server's version line: it was accepted
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
try: data = s.recv(64)
except Exception as e: data = b""
print("dropped" if data == b"" else "accepted")
PY
)
E2E_MAX_STARTUPS=100:30:200; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
[ "$res" = dropped ] && t_ok "max_startups drops excess unauthenticated connections" || t_fail "max_startups" "$res"
# Per-source penalty: three failed connections from 127.0.0.9, then it is refused.
for i in 1 2 3; do ssh "${SSHO[@]}" -b 127.0.0.9 -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/wrong" alice@127.0.0.1 true 2>/dev/null; done
# The strike lands when the master reaps the session process: poll for it.
for i in $(seq 20); do
    sleep 0.3
    res=$(python3 - "$PORT" <<'PY'
import socket, sys
s = socket.socket(); s.bind(("127.0.0.9", 0)); s.connect(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
try: print("refused" if s.recv(64) == b"" else "accepted")
except Exception: print("refused")
PY
)
    [ "$res" = refused ] && break
done
[ "$res" = refused ] && e2e_ssh alice alice true && t_ok "repeated failures from one source are penalised (others unaffected)" \
    || t_fail "per-source penalty" "$res"

# --- scale ---
pids=(); for i in $(seq 50); do e2e_ssh alice alice "echo ok$i" > "$T/par.$i" 2>&1 & pids+=($!); done
fails=0; for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
okc=$(cat "$T"/par.* | grep -c '^ok')
[ "$fails" = 0 ] && [ "$okc" = 50 ] && t_ok "50 parallel logins all succeed" || t_fail "50 parallel logins" "$fails failed, $okc ok"

# --- VM lifecycle ---
e2e_ssh alice alice 'echo before > /tmp/life; sleep 20' > /dev/null 2>"$T/killed.err" & p=$!
sleep 1.5
sup=$(sed -n 's/^pid = //p' "$(e2e_vmdir alice)/meta")
kill -KILL "$sup"
wait $p; rc=$?
grep -Eq "stopped unexpectedly|connection to your environment was lost" "$T/killed.err" && [ $rc != 0 ] && t_ok "a killed backend gives a clear error ($(tr -d '\r' < "$T/killed.err" | head -1))" \
    || t_fail "killed backend" "rc=$rc err=$(cat "$T/killed.err")"
sleep 0.5
out=$(e2e_ssh alice alice 'cat /tmp/life 2>/dev/null || echo fresh')
[ "$out" = fresh ] && t_ok "the next login gets a fresh environment" || t_fail "fresh after death" "$out"

e2e_ssh bob bob 'echo keep > /tmp/keep' 
e2e_ssh alice alice 'sleep 3; echo survived' > "$T/term.out" 2>&1 & p=$!
sleep 1
kill -TERM "$BURROWD_PID"; wait "$BURROWD_PID" 2>/dev/null; BURROWD_PID=
if e2e_ssh alice alice true 2>/dev/null; then t_fail "SIGTERM stops accepting" "a new login still worked"
else t_ok "SIGTERM stops accepting"; fi
wait $p; rc=$?
[ $rc = 0 ] && grep -q survived "$T/term.out" && t_ok "a running session continues after SIGTERM" \
    || t_fail "session survives SIGTERM" "rc=$rc $(cat "$T/term.out")"
e2e_start || true
grep -q "re-adopted (user bob" "$T/log" && [ "$(e2e_ssh bob bob 'cat /tmp/keep')" = keep ] \
    && t_ok "a restarted burrowd re-adopts running VMs and the next session reuses them" \
    || t_fail "re-adopt" "$(grep -i adopt "$T/log" | tail -3)"

bobdir=$(e2e_vmdir bob); bobid=$(basename "$bobdir")
E2E_IDLE=2; e2e_config; kill -HUP "$BURROWD_PID"
for i in $(seq 40); do [ -d "$bobdir" ] || break; sleep 0.25; done
[ -n "$bobid" ] && [ ! -d "$bobdir" ] && grep -q "$bobid: stopping (idle)" "$T/log" \
    && t_ok "idle reap after idle_timeout (agent asked to sync first)" || t_fail "idle reap" "$(tail -3 "$T/log")"
E2E_IDLE=600; E2E_MAX_VMS=1; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
e2e_ssh alice alice 'sleep 3' & p=$!
sleep 1
out=$(e2e_ssh bob bob true 2>&1); rc=$?
wait $p
case "$out" in *max_vms*) [ $rc != 0 ] && t_ok "max_vms admission with a clear message";;
    *) t_fail "max_vms" "rc=$rc $out";; esac
E2E_MAX_VMS=8; E2E_GRACE=2; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
res=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(8)
s.recv(64); t0 = time.time()            # version line, then say nothing
try:
    while s.recv(4096): pass
except Exception: print("still open"); sys.exit()
print("closed after %.0fs" % (time.time() - t0))
PY
)
E2E_GRACE=30; e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
case "$res" in "closed after "[2-4]s) t_ok "login_grace_time honoured ($res)";; *) t_fail "login_grace_time" "$res";; esac
e2e_ssh alice alice 'sleep 10' > /dev/null 2>"$T/adm.err" & p=$!
sleep 1.5
ans=$(python3 - "$T/run/control.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"vm list\n")
lst = s.makefile().read(); s.close()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"vm kill alice\n")
print(lst.replace("\n", "|") + s.makefile().read().strip())
PY
)
wait $p; rc=$?
case "$ans" in *" alice running "*"|ok|ok") grep -q "stopped by an administrator" "$T/adm.err" && [ $rc != 0 ] \
    && t_ok "control socket: vm list, vm kill (the user is told)" || t_fail "vm kill message" "rc=$rc $(cat "$T/adm.err")";;
    *) t_fail "control socket" "$ans";; esac
grep -q "login: user=alice from=127.0.0.1 port [0-9]* method=publickey vm=[0-9a-f]\{12\}$" "$T/log" \
    && grep -q "logout: user=alice" "$T/log" && grep -q "auth failure: user=alice" "$T/log" \
    && t_ok "login, logout and failure log lines" || t_fail "log lines" "$(grep -E 'login|logout|failure' "$T/log" | tail -3)"
. tests/e2e/sandbox.sh
crashes=$(grep -c "crashed" "$T/log")
[ "$crashes" = 0 ] && t_ok "no session process crashed" || t_fail "session crashes" "$(grep crashed "$T/log" | head -3; grep -A30 'backtrace:$' "$T/log" | head -60)"
t_end
