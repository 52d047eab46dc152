#!/usr/bin/env bash
# timeout: 300
# More of the real path, after case 32: OpenSSH -> burrowd (kvm
# backend, template "linux") -> forked Linux VMs, with two users.
# - an interactive `ssh -tt` through a pty: `stty size` in the VM follows a
#   window change of the client's terminal (tests/e2e/ptyshell.py), exit 7;
# - `ssh -L` reaches a listener inside the user's VM;
# - two users get two VMs and cannot see each other's files or processes;
# - benchmark (only the ratio means anything in L1): `ssh USER@ true` through
#   burrowd against Debian's OpenSSH sshd in this same L1, p50 of 5 each.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
command -v ssh >/dev/null || fail "the OpenSSH client is not installed"
command -v python3 >/dev/null || fail "python3 is not installed (make deps)"
[ -x /usr/sbin/sshd ] || fail "Debian's sshd is not installed (openssh-server; make deps)"
sshd_pid=
stop_all() { [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null; lx_burrowd_stop; }
trap stop_all EXIT
lx_burrowd_start
lx_user_key amy
lx_user_key bob
fails=""
as() { # USER CMD...: one ssh login as USER
    local u=$1; shift
    lx_ssh_opts "$u"
    timeout 60 ssh "${SSHO[@]}" "$u@127.0.0.1" "$@"
}
vmid() { sed -n 's/^id = //p' "$(lx_vm_dir "$1")/meta" 2>/dev/null; }

# 1. interactive pty with a window change
lx_ssh_opts amy
out=$(timeout 90 python3 "$NESTED_REPO/tests/e2e/ptyshell.py" "${SSHO[@]}" amy@127.0.0.1 2>&1)
[ "$out" = "pty ok" ] || fails+=" pty($(tail -n 1 <<<"$out"))"
echo "pty with a window change: $out"

# 2. ssh -L to a port inside amy's VM (busybox nc answers once)
as amy 'setsid busybox nc -l -p 8081 -e echo hello-from-the-vm </dev/null >/dev/null 2>&1 &' ||
    fails+=" nc-listener"
lport=$((20000 + RANDOM % 20000))
lx_ssh_opts amy
timeout 60 ssh "${SSHO[@]}" -o ExitOnForwardFailure=yes -N -L "$lport:127.0.0.1:8081" amy@127.0.0.1 &
fwd=$!
got=
for _ in $(seq 50); do
    got=$( { exec 3<>"/dev/tcp/127.0.0.1/$lport" && timeout 10 head -n 1 <&3; } 2>/dev/null) && [ -n "$got" ] && break
    sleep 0.3
done
kill "$fwd" 2>/dev/null; wait "$fwd" 2>/dev/null
[ "$got" = hello-from-the-vm ] || fails+=" ssh-L(got '$got')"
echo "ssh -L into the VM: '$got'"

# 3. two users: two VMs; neither sees the other's files or processes
as amy 'echo amy-private >~/secret; setsid sleep 4343 </dev/null >/dev/null 2>&1 & sync' || fails+=" amy-setup"
out=$(as bob 'id -un; ls /home; cat /home/amy/secret 2>&1 || echo no-file; ps -o args | grep -cx "sleep 4343" || :' 2>&1)
echo "bob's view:" $out
[ "$(echo $out)" = "bob bob cat: can't open '/home/amy/secret': No such file or directory no-file 0" ] ||
    fails+=" bob-sees($(echo $out))"
out=$(as amy 'cat ~/secret; ps -o args | grep -cx "sleep 4343"; ls /home' 2>&1)
[ "$(echo $out)" = "amy-private 1 amy" ] || fails+=" amy-view($(echo $out))"
a=$(vmid amy) b=$(vmid bob)
[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] || fails+=" vms(amy=$a bob=$b)"

# 4. benchmark: ssh true through burrowd vs Debian's sshd in this L1.
lx_sshd_start amy.pub
sshd_pid=$LX_SSHD_PID
p50() { sort -n | sed -n 3p; }
time_logins() { # PORT USER: 5 `ssh USER@ true`, one ms value per line
    local i
    for i in 1 2 3 4 5; do lx_time_login "$1" "$2" amy || echo "login $i failed" >&2; done
}
bt=$(time_logins "$LX_PORT" amy 2>>bench.err | p50)
st=$(time_logins "$LX_SSHD_PORT" burrowbench 2>>bench.err | p50)
if [ -s bench.err ] || [ -z "$bt" ] || [ -z "$st" ]; then
    fails+=" bench($(head -n 2 bench.err | tr '\n' ' ') sshd: $(tail -n 2 sshd/log | tr '\n' ' '))"
else
    echo "linux-bench: ssh true, Debian sshd in L1 (p50 of 5)        ${st} ms   1.00x"
    awk -v s="$st" -v b="$bt" 'BEGIN { printf "linux-bench: ssh true, burrowd -> its Linux VM (p50 of 5) %d ms   %.2fx\n", b, b / s }'
fi
[ -z "$fails" ] || { lx_all_fork_logs; tail -n 15 "$LX_BLOG"; fail "checks failed:$fails"; }
echo "pty + window change, ssh -L into the VM, two users isolated, ssh true vs sshd measured"
