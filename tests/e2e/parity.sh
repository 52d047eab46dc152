#!/usr/bin/env bash
# tests/e2e/parity.sh B - group e2e-parity of the e2e tier: what OpenSSH users
# expect beyond a shell, with the OpenSSH client (ssh, ssh-agent,
# ssh-keygen -s, scp -O, sftp) and paramiko as a second client, against
# burrowd with the sandbox backend. Needs root. Algorithm audit (ssh-audit),
# protocol conformance, signals, legacy scp, environment, agent and remote
# forwarding, keyboard-interactive and TOTP, user certificates.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/lib/testlib.sh
. tests/e2e/lib.sh
t_begin e2e-parity "$B/test-results"

e2e_pick_image
if [ "$(id -u)" != 0 ]; then t_fail setup "needs root (namespaces, loop devices)"; t_end; exit 1; fi
for tool in ssh scp sftp ssh-agent ssh-add ssh-keygen ssh-audit oathtool python3; do
    command -v $tool >/dev/null || { t_fail setup "$tool is missing (make deps)"; t_end; exit 1; }
done
# paramiko comes from Debian (python3-paramiko): Debian's interpreter, whatever python3 PATH finds.
PYDEB=/usr/bin/python3
$PYDEB -c 'import paramiko' 2>/dev/null || { t_fail setup "python3-paramiko is missing (make deps)"; t_end; exit 1; }
[ -f "$E2E_IMAGE" ] || { t_fail setup "no sandbox image $E2E_IMAGE"; t_end; exit 1; }

e2e_setup
trap e2e_cleanup EXIT
if ! e2e_start; then t_fail start "burrowd did not start"; t_end; exit 1; fi
[ -n "${E2E_KEEP:-}" ] && echo "e2e-parity: temp tree $T (kept)"

# --- algorithm audit ---
# ssh-audit (2.5 here) marks what it considers weak with [fail] or [warn]; an
# algorithm it does not know yet (kex-strict-s-v00@openssh.com, the Terrapin
# countermeasure) is a [warn] "unknown algorithm" and is not held against us.
audit=$(ssh-audit -n -p "$PORT" 127.0.0.1 2>&1)
bad=$(printf '%s\n' "$audit" | grep -E '\[(fail|warn)\]' | grep -v '\[warn\] unknown algorithm')
if printf '%s\n' "$audit" | grep -q '^(kex) curve25519-sha256 ' \
    && printf '%s\n' "$audit" | grep -q '^(key) ssh-ed25519 ' && [ -z "$bad" ]; then
    t_ok "ssh-audit: no [fail] or [warn] for the default algorithms"
else t_fail "ssh-audit" "${bad:-$(printf '%s\n' "$audit" | head -20)}"; fi
printf '%s\n' "$audit" | grep -q '^(gen) compression: \(disabled\|enabled (zlib@openssh.com)\)' \
    && t_ok "no compression before authentication (none or zlib@openssh.com)" \
    || t_fail "compression" "$(printf '%s\n' "$audit" | grep compression)"
# The lists are configurable: an admin may add an older kex for an old client.
e2e_config '
kex = curve25519-sha256,ecdh-sha2-nistp256
macs = hmac-sha2-512-etm@openssh.com'
kill -HUP "$BURROWD_PID"; sleep 0.5
audit=$(ssh-audit -n -p "$PORT" 127.0.0.1 2>&1)
kexes=$(printf '%s\n' "$audit" | sed -n 's/^(kex) \([^ ]*\) .*/\1/p' | grep -v kex-strict | tr '\n' ' ')
macs=$(printf '%s\n' "$audit" | sed -n 's/^(mac) \([^ ]*\) .*/\1/p' | tr '\n' ' ')
[ "$kexes" = "curve25519-sha256 ecdh-sha2-nistp256 " ] && [ "$macs" = "hmac-sha2-512-etm@openssh.com " ] \
    && t_ok "[ssh] kex and macs change what is offered (SIGHUP)" || t_fail "[ssh] kex/macs" "kex: $kexes mac: $macs"
e2e_config '
ciphers = aes128-ctr,none'
kill -HUP "$BURROWD_PID"; sleep 0.5
grep -q "reload refused.*\[ssh\] ciphers.*'none' is not an algorithm" "$T/log" \
    && t_ok "an unknown or unsafe algorithm name is refused at reload, naming it" \
    || t_fail "bad cipher refused" "$(tail -2 "$T/log")"
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5

# --- paramiko, a second client ---
pc() { local user=$1; shift; $PYDEB tests/e2e/pclient.py --port "$PORT" --user "$user" "$@"; }
out=$(pc alice --key "$T/alice" exec 'echo paramiko-$((6*7)); exit 5' 2>&1)
case "$out" in *paramiko-42*"status 5"*) t_ok "paramiko: exec with exit status";; *) t_fail "paramiko exec" "$out";; esac
t_check "paramiko: invoke_shell with a pty, resize_pty followed by stty size" pc alice --key "$T/alice" shell
t_check "paramiko: sftp put/get 5 MiB, checksums equal" pc alice --key "$T/alice" sftp $((5 << 20))
(e2e_ssh alice alice 'busybox nc -l -p 8082 -e echo hello-paramiko' >/dev/null 2>&1 &)
sleep 1
out=$(pc alice --key "$T/alice" tcpip 8082 2>&1)
[ "$out" = hello-paramiko ] && t_ok "paramiko: direct-tcpip to a listener inside" || t_fail "paramiko direct-tcpip" "$out"

# --- protocol conformance ---
out=$(pc alice --key "$T/alice" sessions 12 2>/dev/null)
case "$out" in "opened 10 refused 1 "*alive*) t_ok "max_sessions: the 11th session on a connection is refused, the others work";;
    *) t_fail "max_sessions default 10" "$out";; esac
e2e_config 'max_sessions = 2'; kill -HUP "$BURROWD_PID"; sleep 0.5
out=$(pc alice --key "$T/alice" sessions 3 2>/dev/null)
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
case "$out" in "opened 2 refused 1 "*alive*) t_ok "[ssh] max_sessions = 2 honoured";; *) t_fail "max_sessions 2" "$out";; esac
# Garbage, a bad banner and a bad packet length are each logged, as sshd does.
$PYDEB - "$PORT" <<'PY'
import socket, struct, sys, time
def conn(data):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
    s.recv(256)
    s.sendall(data)
    try:
        while s.recv(4096): pass
    except Exception: pass
    s.close()
conn(b"GET / HTTP/1.0\r\n\r\n")
conn(b"\x00\xff garbage \x01\x02\r\n")
conn(b"SSH-2.0-e2e\r\n" + struct.pack(">I", 0x7fffffff) + b"\x00" * 64)
PY
sleep 0.5
if grep -q 'key exchange failed: from=127.0.0.1: .*banner: GET / HTTP/1.0' "$T/log" \
    && grep -q 'key exchange failed: from=127.0.0.1: .*banner: )' "$T/log" \
    && grep -q 'key exchange failed: from=127.0.0.1: .*Packet len too high' "$T/log"; then
    t_ok "garbage, a bad banner and a bad packet length are each logged"
else t_fail "kex failure log lines" "$(grep 'key exchange failed' "$T/log" | tail -3)"; fi
# ssh -L: a client that sends its data, EOF and CLOSE back to back (the local
# socket closed at once) loses nothing (libssh 0.10 will not read buffered data
# after a CLOSE: the channel copies it as it arrives).
head -c $((4 << 20)) /dev/urandom > "$T/l4"
want=$(sha256sum < "$T/l4" | cut -d' ' -f1)
(e2e_ssh alice alice 'busybox nc -l -p 8090 > /tmp/l4; sha256sum < /tmp/l4 | cut -d" " -f1; rm /tmp/l4' > "$T/l4.sum" 2>&1 &)
sleep 1
lport=$(e2e_free_port)
ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" -N -L "$lport:127.0.0.1:8090" alice@127.0.0.1 & fwd=$!
sleep 1
python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$lport)); s.sendall(open('$T/l4','rb').read()); s.close()"
for i in $(seq 50); do [ -s "$T/l4.sum" ] && break; sleep 0.2; done
kill $fwd 2>/dev/null; wait $fwd 2>/dev/null
[ "$(cat "$T/l4.sum")" = "$want" ] && t_ok "ssh -L: 4 MiB followed at once by EOF and CLOSE arrive whole" \
    || t_fail "ssh -L data before CLOSE" "want $want got $(cat "$T/l4.sum")"

# --- the signal channel request (RFC 4254 6.9), to the whole process group ---
out=$(pc alice --key "$T/alice" signal TERM 'echo started; sleep 30; echo notkilled' 2>&1)
case "$out" in "closed after "[0-2].*notkilled*) t_fail "signal to the process group" "$out";;
    "closed after "[0-2].*"['started']") t_ok "signal TERM ends 'echo started; sleep 30; echo notkilled' at once ($out)";;
    *) t_fail "signal to the process group" "$out";; esac

# --- legacy scp (scp -O: the SCP protocol, `scp -t`/`scp -f` on the server) ---
SCPO=(-O -P "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
      -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice")
head -c 3000000 /dev/urandom > "$T/s1"
if scp "${SCPO[@]}" "$T/s1" alice@127.0.0.1:s1 && scp "${SCPO[@]}" alice@127.0.0.1:s1 "$T/s1.back" \
    && cmp -s "$T/s1" "$T/s1.back"; then t_ok "scp -O upload and download (3 MB, equal)"
else t_fail "scp -O" "files differ or scp -O failed"; fi
mkdir -p "$T/tree/a/b" "$T/tree/c"
head -c 100000 /dev/urandom > "$T/tree/a/b/x"; echo hello > "$T/tree/c/y"; : > "$T/tree/empty"
if scp -r "${SCPO[@]}" "$T/tree" alice@127.0.0.1:tree && scp -r "${SCPO[@]}" alice@127.0.0.1:tree "$T/tree.back" \
    && diff -r "$T/tree" "$T/tree.back" >/dev/null; then t_ok "scp -O -r both ways (a tree with subdirectories)"
else t_fail "scp -O -r" "$(diff -r "$T/tree" "$T/tree.back" 2>&1 | head -3)"; fi

# --- environment: SetEnv/SendEnv ([ssh] accept_env) and environment= (permit_user_environment) ---
out=$(e2e_ssh alice alice -o 'SetEnv=LC_PARITY=lc FOO=foo' 'echo "[$LC_PARITY/$FOO]"')
e2e_config 'accept_env = LANG LC_* FOO'; kill -HUP "$BURROWD_PID"; sleep 0.5
out2=$(e2e_ssh alice alice -o 'SetEnv=LC_PARITY=lc FOO=foo' 'echo "[$LC_PARITY/$FOO]"')
[ "$out" = "[lc/]" ] && [ "$out2" = "[lc/foo]" ] && t_ok "SetEnv: LC_* by default, FOO once accept_env names it" \
    || t_fail "accept_env" "default '$out', with FOO '$out2'"
out=$(pc alice --key "$T/alice" env FOO=from-paramiko 'echo "[$FOO]"' 2>&1)
[ "$out" = "[from-paramiko]" ] && t_ok "paramiko: environment request" || t_fail "paramiko env" "$out"
ssh-keygen -q -t ed25519 -N '' -C frank -f "$T/frank"
printf 'environment="GREETING=hi",environment="PATH=/opt/x:/usr/bin:/bin" %s\n' "$(cat "$T/frank.pub")" > "$T/frank.keys"
$BCTL user add frank --key-file "$T/frank.keys" --disk-size 32M >/dev/null
envcheck() { e2e_ssh frank frank 'echo "[$GREETING|$PATH]"'; }
o1=$(envcheck)
e2e_config 'permit_user_environment = GREETING'; kill -HUP "$BURROWD_PID"; sleep 0.5; o2=$(envcheck)
e2e_config 'permit_user_environment = yes'; kill -HUP "$BURROWD_PID"; sleep 0.5; o3=$(envcheck)
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
if [ "$o1" = "[|/usr/local/bin:/usr/bin:/bin]" ] && [ "$o2" = "[hi|/usr/local/bin:/usr/bin:/bin]" ] \
    && [ "$o3" = "[hi|/opt/x:/usr/bin:/bin]" ]; then
    t_ok "environment=: none by default, the names permit_user_environment passes, all with yes"
else t_fail "permit_user_environment" "no '$o1', GREETING '$o2', yes '$o3'"; fi

# --- agent forwarding (ssh -A) ---
eval "$(ssh-agent -s)" >/dev/null
trap 'ssh-agent -k >/dev/null 2>&1; e2e_cleanup' EXIT
ssh-add -q "$T/bob"
bobfp=$(ssh-keygen -lf "$T/bob.pub" | cut -d' ' -f2)
out=$(e2e_ssh alice alice -A 'ssh-add -l; d=$(dirname "$SSH_AUTH_SOCK"); stat -c "%a %U" "$d" "$SSH_AUTH_SOCK"; echo "sock=$SSH_AUTH_SOCK"' 2>&1)
alicesock=$(printf '%s\n' "$out" | sed -n 's/^sock=//p')
case "$out" in *"$bobfp"*"700 alice"*"600 alice"*) t_ok "ssh -A: ssh-add -l inside lists the client's key; the socket is hers alone (0700 dir, 0600 socket)";;
    *) t_fail "agent forwarding" "$out";; esac
out=$(e2e_ssh bob bob -A "SSH_AUTH_SOCK=$alicesock ssh-add -l" 2>&1); rc=$?
[ $rc != 0 ] && [ -n "$alicesock" ] && t_ok "another user cannot use her agent socket ($(echo "$out" | head -1))" \
    || t_fail "agent socket of another user" "rc=$rc $out"
ssh-keygen -q -t ed25519 -N '' -C gina -f "$T/gina"
printf 'no-agent-forwarding,permitlisten="40200",permitopen="127.0.0.1:8083" %s\n' "$(cat "$T/gina.pub")" > "$T/gina.keys"
$BCTL user add gina --key-file "$T/gina.keys" --disk-size 32M >/dev/null
out=$(e2e_ssh gina gina -A 'echo "[$SSH_AUTH_SOCK]"; ssh-add -l' 2>&1); rc=$?
case "$out" in "[]"*) [ $rc != 0 ] && t_ok "no-agent-forwarding refuses ssh -A";; *) t_fail "no-agent-forwarding" "rc=$rc $out";; esac
e2e_config 'allow_agent_forwarding = no'; kill -HUP "$BURROWD_PID"; sleep 0.5
out=$(e2e_ssh alice alice -A 'echo "[$SSH_AUTH_SOCK]"' 2>&1)
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
[ "$out" = "[]" ] && t_ok "[ssh] allow_agent_forwarding = no refuses ssh -A" || t_fail "allow_agent_forwarding" "$out"

# --- remote forwarding (ssh -R) ---
SIZE=$((4 << 20))
# rfwd USER KEY SPEC VMPORT: ssh -R SPEC in the background, then inside her VM
# send SIZE bytes to VMPORT (or the allocated port) and check both directions.
rfwd() {
    local user=$1 key=$2 spec=$3 vmport=$4 srvport
    rm -f "$T/rfwd.port" "$T/rfwd.sums" "$T/rfwd.err"
    "$PYDEB" tests/e2e/rfwd-server.py "$SIZE" "$T/rfwd.sums" > "$T/rfwd.port" & local srv=$!
    for i in $(seq 50); do [ -s "$T/rfwd.port" ] && break; sleep 0.1; done
    srvport=$(head -1 "$T/rfwd.port")
    local n0; n0=$(grep -c "remote forward: port" "$T/log")
    ssh -o LogLevel=INFO "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes \
        -i "$T/$key" -N -R "${spec/SRV/$srvport}" "$user@127.0.0.1" 2> "$T/rfwd.err" & local fwd=$!
    for i in $(seq 100); do   # until burrowd logged the listener (or ssh gave up)
        [ "$(grep -c "remote forward: port" "$T/log")" -gt "$n0" ] && break
        kill -0 $fwd 2>/dev/null || break; sleep 0.1
    done
    for i in $(seq 20); do [ "$vmport" != dynamic ] || grep -q "Allocated port" "$T/rfwd.err" && break; sleep 0.1; done
    [ "$vmport" = dynamic ] && vmport=$(sed -n 's/^Allocated port \([0-9]*\) .*/\1/p' "$T/rfwd.err")
    e2e_ssh "$user" "$key" "head -c $SIZE /dev/urandom > /tmp/up; sha256sum < /tmp/up | cut -d' ' -f1;
        busybox nc 127.0.0.1 ${vmport:-0} < /tmp/up > /tmp/down; head -n 1 /tmp/down;
        tail -c $SIZE /tmp/down | sha256sum | cut -d' ' -f1; rm -f /tmp/up /tmp/down" > "$T/rfwd.vm" 2>&1
    kill $fwd $srv 2>/dev/null; wait $fwd $srv 2>/dev/null
    local up up_srv down_vm down_srv got
    up=$(sed -n 1p "$T/rfwd.vm"); up_srv=$(sed -n 2p "$T/rfwd.vm"); down_vm=$(sed -n 3p "$T/rfwd.vm")
    read -r got_srv got down_srv < "$T/rfwd.sums" 2>/dev/null || true
    [ -n "$up" ] && [ "$up" = "$up_srv" ] && [ "$up" = "${got_srv:-}" ] && [ "${got:-}" = "$SIZE" ] \
        && [ -n "${down_srv:-}" ] && [ "$down_vm" = "$down_srv" ]
}
if rfwd alice alice 0:127.0.0.1:SRV dynamic; then t_ok "ssh -R 0:127.0.0.1:PORT (allocated port printed): 4 MiB each way, checksums equal"
else t_fail "ssh -R dynamic port" "$(cat "$T/rfwd.err" "$T/rfwd.vm" 2>/dev/null | head -8)"; fi
if rfwd alice alice 40123:127.0.0.1:SRV 40123; then t_ok "ssh -R 40123:127.0.0.1:PORT (a fixed port): 4 MiB each way, checksums equal"
else t_fail "ssh -R fixed port" "$(cat "$T/rfwd.err" "$T/rfwd.vm" 2>/dev/null | head -8)"; fi
out=$(ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -i "$T/dave" \
      -N -R 0:127.0.0.1:9 dave@127.0.0.1 2>&1); rc=$?
case "$out" in *"forwarding failed"*) [ $rc = 255 ] && t_ok "restrict refuses ssh -R";; *) t_fail "restrict: ssh -R" "rc=$rc $out";; esac
rfwd gina gina 40200:127.0.0.1:SRV 40200 && ok1=1 || ok1=0
out=$(ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -i "$T/gina" \
      -N -R 40201:127.0.0.1:9 gina@127.0.0.1 2>&1); rc=$?
[ $ok1 = 1 ] && [ $rc = 255 ] && t_ok "permitlisten=\"40200\": port 40200 forwarded, 40201 refused" \
    || t_fail "permitlisten" "first ok=$ok1; second rc=$rc $out"
e2e_config 'allow_tcp_forwarding = local'; kill -HUP "$BURROWD_PID"; sleep 0.5
out=$(ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o ExitOnForwardFailure=yes -i "$T/alice" \
      -N -R 0:127.0.0.1:9 alice@127.0.0.1 2>&1); rc=$?
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
[ $rc = 255 ] && t_ok "[ssh] allow_tcp_forwarding = local refuses ssh -R" || t_fail "allow_tcp_forwarding local" "rc=$rc $out"
(e2e_ssh gina gina 'busybox nc -l -p 8083 -e echo permitted; ' >/dev/null 2>&1 &)
(e2e_ssh gina gina 'busybox nc -l -p 8084 -e echo forbidden; ' >/dev/null 2>&1 &)
sleep 1
o1=$(pc gina --key "$T/gina" tcpip 8083 2>&1); o2=$(pc gina --key "$T/gina" tcpip 8084 2>/dev/null)
[ "$o1" = permitted ] && [ "$o2" != forbidden ] && t_ok "permitopen=\"127.0.0.1:8083\": that destination only" \
    || t_fail "permitopen" "8083: $o1, 8084: $o2"
out=$(pc alice --key "$T/alice" rforward 2>&1)
case "$out" in *"forwarded: hello-through-paramiko"*"after cancel: refused"*) t_ok "paramiko: tcpip-forward, a forwarded-tcpip channel, cancel-tcpip-forward";;
    *) t_fail "paramiko rforward" "$out";; esac

# --- keyboard-interactive, TOTP, [auth] methods ---
printf '#!/bin/sh\necho "$E2E_PW"\n' > "$T/askpass"; chmod +x "$T/askpass"
# kbd ANSWER SSH-ARGS...: ssh answering every prompt with ANSWER (SSH_ASKPASS), one try.
kbd() { local ans=$1; shift; E2E_PW=$ans SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        ssh "${SSHO[@]}" -o NumberOfPasswordPrompts=1 "$@" 'echo in-as-$(id -un)' 2>&1 | grep -v Welcome | tr -d '\r'; }
kbonly=(-b 127.0.0.7 -o PubkeyAuthentication=no -o PreferredAuthentications=keyboard-interactive)
ok=$(kbd sesame-1234 "${kbonly[@]}" bob@127.0.0.1)
bad=$(kbd wrong-pass "${kbonly[@]}" bob@127.0.0.1 | sed 's/^[^:]*: //')
unk=$(kbd sesame-1234 "${kbonly[@]}" nobody_here@127.0.0.1 | sed 's/^[^:]*: //')
[ "$ok" = in-as-bob ] && [ -n "$bad" ] && [ "$bad" = "$unk" ] \
    && t_ok "keyboard-interactive with the password as its prompt; wrong password and unknown user refused alike" \
    || t_fail "keyboard-interactive" "ok='$ok' bad='$bad' unknown='$unk'"
grep -q "auth failure: user=bob .*method=keyboard-interactive" "$T/log" \
    && t_ok "a keyboard-interactive failure is counted and logged like password's" || t_fail "kbdint failure log" "$(grep 'auth failure' "$T/log" | tail -2)"
out=$(pc bob --password sesame-1234 kbdint 2>&1); out2=$(pc bob --password nope kbdint 2>&1)
case "$out" in *"'Password: '"*kbdint-ok*) case "$out2" in *"auth failed"*) t_ok "paramiko: auth_interactive (one prompt, the password)";;
    *) t_fail "paramiko kbdint wrong password" "$out2";; esac;; *) t_fail "paramiko kbdint" "$out";; esac
ssh-keygen -q -t ed25519 -N '' -C hank -f "$T/hank"
$BCTL user add hank --key-file "$T/hank.pub" --disk-size 32M >/dev/null
uri=$($BCTL user totp hank); secret=$(printf '%s' "$uri" | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p')
case "$uri" in otpauth://totp/Burrow:hank\?secret=*) t_ok "burrowctl user totp shows an otpauth:// URI";; *) t_fail "user totp" "$uri";; esac
keyonly=$(e2e_ssh hank hank -b 127.0.0.23 'echo in' 2>&1 | tr -d '\r')
# Failing logins from sources of their own (three from one earn it a penalty).
wrongcode=$(kbd 000000 -b 127.0.0.21 -o IdentitiesOnly=yes -i "$T/hank" hank@127.0.0.1)
code=$(oathtool --totp -b "$secret")
right=$(kbd "$code" -o IdentitiesOnly=yes -i "$T/hank" hank@127.0.0.1)
replay=$(kbd "$code" -b 127.0.0.22 -o IdentitiesOnly=yes -i "$T/hank" hank@127.0.0.1)
case "$keyonly" in *"Permission denied (keyboard-interactive)"*) [ "$right" = in-as-hank ] \
    && case "$wrongcode$replay" in *in-as-hank*) t_fail "TOTP" "wrong '$wrongcode' replay '$replay'";;
       *) t_ok "TOTP after publickey: the key alone is not enough, the right code gets in, a wrong or replayed one does not";; esac \
    || t_fail "TOTP right code" "$right";; *) t_fail "TOTP: key alone" "$keyonly";; esac
grep -q "login: user=hank .*method=publickey,keyboard-interactive" "$T/log" && grep -q "hank: a one-time code used before was refused" "$T/log" \
    && t_ok "the login names both methods; the replay is logged" || t_fail "TOTP log lines" "$(grep hank "$T/log" | tail -3)"
e2e_config '
[auth]
methods = publickey,keyboard-interactive'; kill -HUP "$BURROWD_PID"; sleep 0.5
keyonly=$(e2e_ssh bob bob -b 127.0.0.24 'echo in' 2>&1 | tr -d '\r')
both=$(kbd sesame-1234 -o IdentitiesOnly=yes -i "$T/bob" bob@127.0.0.1)
pwonly=$(kbd sesame-1234 -b 127.0.0.25 -o PubkeyAuthentication=no bob@127.0.0.1)
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
case "$keyonly" in *"Permission denied (keyboard-interactive)"*) [ "$both" = in-as-bob ] && case "$pwonly" in *in-as-bob*) t_fail "[auth] methods" "password alone got in";;
    *) t_ok "[auth] methods = publickey,keyboard-interactive: key then password; neither alone";; esac \
    || t_fail "[auth] methods both" "$both";; *) t_fail "[auth] methods key alone" "$keyonly";; esac

# --- user certificates ---
mkdir -p "$T/certs"
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/certs/ca"; ssh-keygen -q -t ed25519 -N '' -C ca2 -f "$T/certs/ca2"
ssh-keygen -q -t ed25519 -N '' -C ivy -f "$T/ivy"
$BCTL user add ivy --disk-size 32M >/dev/null   # no authorized_keys at all
# mkcert NAME CA SSH-KEYGEN-ARGS...: a certificate of ivy's key in $T/certs/NAME.pub
mkcert() { local name=$1 ca=$2; shift 2; cp "$T/ivy.pub" "$T/certs/$name.key.pub"
    ssh-keygen -q -s "$T/certs/$ca" -I "id-$name" "$@" "$T/certs/$name.key.pub" && mv "$T/certs/$name.key-cert.pub" "$T/certs/$name.pub"; }
cssh() { local user=$1 name=$2; shift 2
    ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/ivy" -o CertificateFile="$T/certs/$name.pub" "$@" \
        "$user@127.0.0.1" 'echo in-as-$(id -un)' 2>&1 | tr -d '\r'; }
mkcert good ca -n ivy -V +1h; mkcert expired ca -n ivy -V -2h:-1h; mkcert other ca -n someoneelse -V +1h
mkcert untrusted ca2 -n ivy -V +1h; mkcert src ca -n ivy -V +1h -O source-address=192.0.2.0/24
mkcert forced ca -n ivy -V +1h -O force-command="echo forced-by-cert"; mkcert nopty ca -n ivy -V +1h -O no-pty
e2e_config "
[auth]
trusted_user_ca_keys = $T/certs/ca.pub"; kill -HUP "$BURROWD_PID"; sleep 0.5
good=$(cssh ivy good)
[ "$good" = in-as-ivy ] && t_ok "a certificate from ssh-keygen -s ca -I id -n ivy -V +1h logs in ([auth] trusted_user_ca_keys)" \
    || t_fail "certificate login" "$good"
# Each refusal from a source of its own: three failures from one source earn a penalty.
out=""; src=10; for c in expired other untrusted src; do
    src=$((src + 1)); out="$out $c:$(cssh ivy $c -b 127.0.0.$src | grep -c in-as)"; done
[ "$out" = " expired:0 other:0 untrusted:0 src:0" ] \
    && grep -q "certificate for ivy refused: certificate expired" "$T/log" \
    && grep -q "certificate for ivy refused: no principal" "$T/log" \
    && grep -q "certificate for ivy refused: signed by a CA that is not trusted" "$T/log" \
    && grep -q "certificate for ivy refused: source-address" "$T/log" \
    && t_ok "expired, wrong principal, untrusted CA, source-address mismatch refused (each reason logged)" \
    || t_fail "certificate refusals" "$out; $(grep 'certificate for' "$T/log" | tail -4)"
forced=$(cssh ivy forced)
pty=$(cssh ivy nopty -tt; echo "rc=$?")
case "$forced" in forced-by-cert) case "$pty" in *"PTY allocation request failed"*) t_ok "force-command runs; a certificate without permit-pty gets no pty";;
    *) t_fail "certificate no-pty" "$pty";; esac;; *) t_fail "certificate force-command" "$forced";; esac
# cert-authority in authorized_keys (ca2, principals= deploy) for jack.
printf 'cert-authority,principals="deploy" %s\n' "$(cat "$T/certs/ca2.pub")" > "$T/jack.keys"
$BCTL user add jack --key-file "$T/jack.keys" --disk-size 32M >/dev/null
mkcert deploy ca2 -n deploy -V +1h; mkcert jackname ca2 -n jack -V +1h
a1=$(cssh jack deploy); a2=$(cssh jack jackname -b 127.0.0.15 | grep -c in-as); a3=$(cssh jack untrusted -b 127.0.0.16 | grep -c in-as)
e2e_config; kill -HUP "$BURROWD_PID"; sleep 0.5
[ "$a1" = in-as-jack ] && [ "$a2" = 0 ] && [ "$a3" = 0 ] \
    && t_ok "cert-authority,principals=\"deploy\" in authorized_keys: a deploy certificate logs in, one naming jack does not, and the CA key alone is no key" \
    || t_fail "cert-authority" "deploy '$a1', jack-principal $a2, ivy-principal $a3"
e2e_ssh jack ivy true 2>/dev/null && t_fail "a CA key logs in as a key" "it did" || true

t_end
