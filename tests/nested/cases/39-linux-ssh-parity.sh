#!/usr/bin/env bash
# timeout: 330
# SSH parity (docs/testing.md, e2e-parity) on the real path, one of each: OpenSSH -> burrowd (kvm backend,
# template "linux" from case 30) -> a forked Linux VM:
# - ssh -A: ssh-add -l inside lists the key of an ssh-agent in L1;
# - ssh -R 0:127.0.0.1:PORT: a connection made inside her VM reaches a server
#   in L1, 1 MiB each way with checksums;
# - keyboard-interactive with a TOTP code after publickey (burrowctl user totp,
#   oathtool), a replayed code refused;
# - a user certificate (ssh-keygen -s, [auth] trusted_user_ca_keys) logs in,
#   an expired one does not;
# - scp -O both ways; a signal request (paramiko) ends a shell's sleep at once;
#   SetEnv with [ssh] accept_env.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
for t in ssh scp ssh-agent ssh-add ssh-keygen oathtool; do
    command -v $t >/dev/null || fail "$t is not installed (make deps)"
done
/usr/bin/python3 -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is not installed (make deps)"
agent_pid=
stop_all() { [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null; lx_burrowd_stop; }
trap stop_all EXIT
lx_burrowd_start
# The case's own settings on top of lx_burrowd_cfg's, then a reload.
ssh-keygen -q -t ed25519 -N '' -C ca -f ca || fail "ssh-keygen"
{ sed 's/^password_auth = no$/password_auth = no\naccept_env = LANG LC_* FOO/' "$LX_BCFG"
  printf '[auth]\ntrusted_user_ca_keys = %s/ca.pub\n' "$PWD"; } >cfg.new && mv cfg.new "$LX_BCFG"
kill -HUP "$LX_BPID"
for _ in $(seq 50); do grep -q "configuration reloaded" "$LX_BLOG" && break; sleep 0.2; done
grep -q "configuration reloaded" "$LX_BLOG" || fail "reload: $(tail -n 3 "$LX_BLOG")"
lx_user_key pia
lx_ssh_opts pia
s() { timeout 90 ssh "${SSHO[@]}" pia@127.0.0.1 "$@"; }
fails=""

# 1. ssh -A
eval "$(ssh-agent -s)" >/dev/null && agent_pid=$SSH_AGENT_PID
ssh-add -q pia || fails+=" ssh-add"
fp=$(ssh-keygen -lf pia.pub | cut -d' ' -f2)
out=$(s -A 'ssh-add -l; stat -c "%a %U" "$SSH_AUTH_SOCK"' 2>&1)
echo "ssh -A: $(echo $out)"
case "$out" in *"$fp"*"600 pia"*) ;; *) fails+=" agent($(echo $out))" ;; esac

# 2. ssh -R, 1 MiB each way
size=$((1 << 20))
/usr/bin/python3 "$NESTED_REPO/tests/e2e/rfwd-server.py" $size sums >srvport &
srv=$!
for _ in $(seq 50); do [ -s srvport ] && break; sleep 0.1; done
timeout 120 ssh -o LogLevel=INFO "${SSHO[@]}" -o ExitOnForwardFailure=yes -N \
    -R "0:127.0.0.1:$(head -n 1 srvport)" pia@127.0.0.1 2>rfwd.err &
fwd=$!
for _ in $(seq 150); do grep -q "Allocated port" rfwd.err && break; sleep 0.2; done
vport=$(sed -n 's/^Allocated port \([0-9]*\) .*/\1/p' rfwd.err)
out=$(s "head -c $size /dev/urandom >/tmp/up; sha256sum </tmp/up | cut -d' ' -f1;
    busybox nc 127.0.0.1 ${vport:-0} </tmp/up >/tmp/down; head -n 1 /tmp/down;
    tail -c $size /tmp/down | sha256sum | cut -d' ' -f1" 2>&1)
kill $fwd $srv 2>/dev/null; wait $fwd $srv 2>/dev/null
read -r srv_in srv_got srv_out <sums 2>/dev/null
set -- $out
echo "ssh -R: port ${vport:-none}; in VM up $1 echo $2 down $3; server got ${srv_got:-0} in ${srv_in:-?} out ${srv_out:-?}"
[ -n "$vport" ] && [ "$1" = "$2" ] && [ "$1" = "${srv_in:-}" ] && [ "${srv_got:-}" = $size ] &&
    [ "$3" = "${srv_out:-}" ] || fails+=" rfwd($(tail -n 2 rfwd.err | tr '\n' ' '))"

# 3. keyboard-interactive: a TOTP code after the key; the same code again is refused
uri=$(c user totp pia) || fails+=" user-totp"
secret=$(sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")
printf '#!/bin/sh\necho "$CODE"\n' >askpass && chmod +x askpass
code=$(oathtool --totp -b "$secret")
kb() { CODE=$code SSH_ASKPASS=$PWD/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=: timeout 90 ssh \
    -p "$LX_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o IdentitiesOnly=yes -o NumberOfPasswordPrompts=1 -i pia pia@127.0.0.1 'echo totp-in' 2>&1; }
first=$(kb) second=$(kb)
echo "TOTP: right code: $first; replayed: $(tail -n 1 <<<"$second")"
[ "$first" = totp-in ] && [ "$second" != totp-in ] || fails+=" totp($first/$second)"
c user totp pia --remove || fails+=" totp-remove"

# 4. user certificates
ssh-keygen -q -t ed25519 -N '' -C quin -f quin || fail "ssh-keygen"
lx_user_add quin --disk-size 16M
cp quin.pub good.pub && cp quin.pub old.pub
ssh-keygen -q -s ca -I id-good -n quin -V +1h good.pub && ssh-keygen -q -s ca -I id-old -n quin -V -2h:-1h old.pub ||
    fail "ssh-keygen -s"
cert() { timeout 90 ssh -p "$LX_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes -i quin -o CertificateFile="$PWD/$1" \
    quin@127.0.0.1 'id -un' 2>&1; }
good=$(cert good-cert.pub) old=$(cert old-cert.pub)
echo "certificate: valid: $good; expired: $(tail -n 1 <<<"$old")"
[ "$good" = quin ] && [ "$old" != quin ] || fails+=" cert($good/$old)"

# 5. scp -O, a signal to the process group, SetEnv
head -c 300000 /dev/urandom >f
timeout 90 scp -O -q "${SSHO[@]/-p/-P}" f pia@127.0.0.1:f.scp 2>err &&
    timeout 90 scp -O -q "${SSHO[@]/-p/-P}" pia@127.0.0.1:f.scp f.back 2>>err && cmp -s f f.back ||
    fails+=" scp-O($(tail -n 1 err))"
out=$(/usr/bin/python3 "$NESTED_REPO/tests/e2e/pclient.py" --port "$LX_PORT" --user pia --key pia \
    signal TERM 'echo started; sleep 30; echo notkilled' 2>&1)
echo "signal: $out"
case "$out" in "closed after "[0-9].*"['started']") ;; *) fails+=" signal($out)" ;; esac
t=${out#closed after }; t=${t%%.*}
[ "${t:-99}" -lt 10 ] || fails+=" signal-slow($t s)"
out=$(s -o 'SetEnv=FOO=bar' 'echo "[$FOO]"' 2>&1)
[ "$out" = "[bar]" ] || fails+=" setenv($out)"

[ -z "$fails" ] || { lx_all_fork_logs; tail -n 20 "$LX_BLOG"; fail "checks failed:$fails"; }
echo "ssh -A, ssh -R, TOTP, certificates, scp -O, signals, SetEnv through the kvm backend"
