# shellcheck shell=bash
# tests/nested/linuxlib.sh - shared by the real-Linux-guest cases 3x-*.sh
#, sourced after caselib.sh. All of them use one private Burrow
# state under /tmp/burrow-linux in L1 (tmpfs, gone when L1 stops): case 30
# builds the template "linux" there from the default image, the later cases
# fork it.
LX=${NESTED_LINUX_STATE:-/tmp/burrow-linux}
LX_CFG=$LX/burrow.ini
# Guest memory of the template (MiB): writing and hashing it dominates case 30.
LX_MEM=${NESTED_LINUX_MEM:-128}
LX_RUN=$LX/run
ctl=$NESTED_BUILD/bin/burrowctl
vm_exec=$NESTED_BUILD/tests/nested/vm-exec
c() { "$ctl" -c "$LX_CFG" "$@"; }
now() { echo "$EPOCHREALTIME"; }
# ms_since T0: milliseconds since the $EPOCHREALTIME value T0.
ms_since() { local a=${1/./} b=${EPOCHREALTIME/./}; echo $(((b - a) / 1000)); }
# KSM stays off in L1 ([vm] ksm = no): its scanning would cost the cases
# emulated CPU (TCG); the fork tier checks KSM on the host.
lx_init() {
    mkdir -p "$LX/state" "$LX_RUN"
    printf '[vm]\ntemplate = linux\npool_size = 0\nksm = no\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
        "$LX" "$LX_RUN" >"$LX_CFG"
}
# The VMM pids of every registered VM.
lx_vmm_pids() { sed -n 's/^pid = //p' "$LX_RUN"/vm/*/meta 2>/dev/null; }
lx_kill_vms() {
    local p
    for p in $(lx_vmm_pids); do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do [ -z "$(lx_vmm_pids | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" ] && break; sleep 0.2; done
    for p in $(lx_vmm_pids); do kill -9 "$p" 2>/dev/null; done
}
# lx_build_template LIMIT_S ARGS...: `burrowctl template build ARGS` on a
# terminal (it prints its steps only there), each line stamped with ms since
# the start ($t0), into build.log and our output; its exit status ends up in
# build.log as "status N". It runs under our own deadline: past LIMIT_S the
# case fails, after printing the build's threads' kernel stacks and L1's
# soft-lockup report (an L1 soft lockup in KVM_RUN was seen). A build whose
# VM hung or triple-faulted before READY (the emulated-SVM L2 flakes) fails
# its case with that in the output, and run-cases runs the case once more.
lx_build_template() {
    local limit=$1 cmd bpid p t lock
    shift
    cmd=$(printf '%q ' "$ctl" -c "$LX_CFG" template build "$@")
    t0=$(now)
    { script -qfec "$cmd" /dev/null </dev/null 2>&1; echo "status $?"; } |
        while IFS= read -r line; do
            line=${line//$'\r'/}
            [ -n "$line" ] && echo "$(ms_since "$t0") $line"
        done | tee build.log &
    bpid=$!
    for _ in $(seq $((limit * 2))); do kill -0 $bpid 2>/dev/null || break; sleep 0.5; done
    if kill -0 $bpid 2>/dev/null; then
        for p in $(pgrep -f "burrowctl -c $LX_CFG template build"); do
            for t in /proc/$p/task/*; do
                echo "thread ${t##*/}: $(tr '\0' ' ' <"$t/comm") state $(cut -d' ' -f3 "$t/stat") wchan $(cat "$t/wchan")"
                sed 's/^/    /' "$t/stack" 2>/dev/null
            done
        done
        dmesg | grep -A30 -m1 "soft lockup" | sed 's/^/    dmesg: /'
        lock=$(dmesg | grep -c "soft lockup")
        fail "template build still running after $limit s (L1 soft lockup reports: $lock)"
    fi
    wait $bpid
}

# lx_template_lxbal LIMIT_S: the template "lxbal" (the default image at 256
# MiB and 2 vCPUs: case 38's, reused by case 40), built unless it exists.
lx_template_lxbal() {
    [ -L "$LX/state/templates/lxbal" ] && return 0
    local kernel initrd=$NESTED_BUILD/guest/initramfs.cpio.gz
    kernel=$(readlink -f "$NESTED_BUILD/guest/kernel/vmlinuz") || fail "no guest kernel: run make guest-image"
    [ -f "$kernel" ] && [ -f "$initrd" ] || fail "no guest kernel or image: run make guest-image"
    lx_build_template "$1" --name lxbal --kernel "$kernel" --initrd "$initrd" \
        --cmdline 'console=ttyS0 panic=-1 quiet' --mem 256 --vcpus 2
    grep -q "status 0" build.log || fail "template lxbal did not build: $(tail -n 3 build.log)"
}

# Where the VM of USER's fork keeps its files.
lx_vm_dir() { grep -l "^user = $1\$" "$LX_RUN"/vm/*/meta 2>/dev/null | head -n 1 | xargs -r dirname; }
# lx_fork_alive DIR: true while the VMM of the fork in DIR runs.
lx_fork_alive() {
    local pid
    pid=$(sed -n 's/^pid = //p' "$1/meta" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
# lx_fork_logs DIR: the ends of the fork's VMM log and console (kept in
# test-results too), which `vm list` removes with a dead fork's record.
lx_fork_logs() {
    local f
    [ -n "$1" ] || return 0
    echo "fork in $1: VMM $(lx_fork_alive "$1" && echo running || echo gone); vmm.log and console.log end:"
    tail -n 20 "$1/vmm.log" 2>&1 | sed 's/^/    vmm: /'
    { tail -n 20 "$1/console.log" 2>&1 && echo; } | tr -d '\r' | sed 's/^/    console: /'
    for f in vmm.log console.log; do
        cp "$1/$f" "$NESTED_BUILD/test-results/nested-fork-${1##*/}.$f" 2>/dev/null
    done
}
# lx_all_fork_logs [RUN_DIR...]: lx_fork_logs for every VM registered there
# (default LX_RUN; a failed case's evidence: a VMM that died leaves no exit
# status anywhere).
lx_all_fork_logs() {
    local m r
    for r in "${@:-$LX_RUN}"; do
        for m in "$r"/vm/*/meta; do [ -e "$m" ] && lx_fork_logs "${m%/meta}"; done
    done
}

# burrowd with the kvm backend on template "linux" (cases 32 and 34): its
# config, log and port; lx_burrowd_start writes the config, starts it and
# waits for the port; lx_burrowd_stop (an EXIT trap) stops it, its session
# processes and every VM.
LX_PORT=2222
LX_BCFG=$LX/burrowd.ini
LX_BLOG=$LX/burrowd.log
LX_BPID=
# Logins through burrowd are served from the warm pool (pool_size 1): the
# pool fills in the background after burrowd starts and after each claim.
LX_POOL=${LX_POOL:-1}
# lx_wait_pool [RUN_DIR]: until a pooled VM registered there (default
# LX_RUN) waits for a claim (bounded: 90 s).
lx_wait_pool() {
    local m
    for _ in $(seq 450); do
        for m in "${1:-$LX_RUN}"/vm/*/meta; do
            grep -q "^state = pool" "$m" 2>/dev/null && [ -S "${m%/meta}/claim.sock" ] && return 0
        done
        sleep 0.2
    done
    return 1
}
lx_burrowd_cfg() { # IDLE_SECONDS [IDLE_HIBERNATE_SECONDS]
    printf '[ssh]\nlisten = 127.0.0.1\nport = %s\npassword_auth = no\n[vm]\nbackend = kvm\ntemplate = linux\npool_size = %s\nidle_timeout = %s\nidle_hibernate = %s\nksm = no\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
        "$LX_PORT" "$LX_POOL" "$1" "${2:-0}" "$LX" "$LX_RUN" >"$LX_BCFG"
}
lx_burrowd_start() {
    lx_burrowd_cfg 600
    : >"$LX_BLOG"
    setsid "$NESTED_BUILD/bin/burrowd" -f -c "$LX_BCFG" >>"$LX_BLOG" 2>&1 </dev/null &
    LX_BPID=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$LX_PORT) 2>/dev/null && break; sleep 0.2; done
    grep -q "vm backend: kvm" "$LX_BLOG" || fail "burrowd: no kvm backend: $(tail -n 5 "$LX_BLOG")"
    [ "$LX_POOL" = 0 ] || lx_wait_pool || fail "burrowd's pool did not fill: $(tail -n 5 "$LX_BLOG")"
}
lx_burrowd_stop() {
    [ -n "$LX_BPID" ] && kill "$LX_BPID" 2>/dev/null
    lx_kill_vms
    local f p a
    for f in /proc/[0-9]*/cmdline; do # session processes forked from burrowd (bash builtins only)
        p=${f#/proc/}; p=${p%/cmdline}
        mapfile -d '' a <"$f" 2>/dev/null || continue
        [[ " ${a[*]} " == *" -c $LX_BCFG "* ]] && kill "$p" 2>/dev/null
    done
}
# lx_ssh_opts KEY: the OpenSSH client options for burrowd with identity KEY
# (sets the array SSHO).
lx_ssh_opts() {
    SSHO=(-p "$LX_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=20 -i "$1")
}
# lx_user_add NAME ARGS...: `user add NAME ARGS`, after removing a NAME left
# by an earlier run of the same case (run-cases reruns a case once after an
# L2 guest died), with her hibernated VM if she has one.
lx_user_add() {
    c vm discard "$1" >/dev/null 2>&1 # a hibernated VM of a first run reserves the disk
    c user del "$1" >/dev/null 2>&1
    c user add "$@" >/dev/null 2>user.err || fail "user add $1: $(cat user.err)"
}
# lx_user_key NAME: a key pair NAME/NAME.pub in the cwd and a user NAME with it.
lx_user_key() {
    ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$1" || fail "ssh-keygen"
    lx_user_add "$1" --key-file "$1.pub" --disk-size 16M
}

# Debian's OpenSSH sshd in this L1, as the baseline of the login benchmarks:
# lx_sshd_start PUBKEY starts it on LX_SSHD_PORT (pid LX_SSHD_PID, log
# sshd/log in the cwd) for the plain user burrowbench with /bin/sh (as the
# VMs run busybox sh: root's bash would read the host's ~/.bashrc, seconds
# under TCG; password "*": none, but not "!", which sshd refuses).
LX_SSHD_PORT=2223
LX_SSHD_PID=
lx_sshd_start() {
    mkdir -p /run/sshd sshd
    ssh-keygen -q -t ed25519 -N '' -f sshd/host_key || fail "ssh-keygen"
    id burrowbench >/dev/null 2>&1 || useradd -M -d /tmp -s /bin/sh -p "*" burrowbench ||
        fail "useradd burrowbench"
    cp "$1" sshd/authorized_keys
    # sshd reads it as the user, after dropping privileges
    chown burrowbench sshd/authorized_keys && chmod 600 sshd/authorized_keys
    cat >sshd/config <<CFG
Port $LX_SSHD_PORT
ListenAddress 127.0.0.1
HostKey $PWD/sshd/host_key
AuthorizedKeysFile $PWD/sshd/authorized_keys
PermitRootLogin no
UseDNS no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
CFG
    /usr/sbin/sshd -D -e -f sshd/config 2>sshd/log &
    LX_SSHD_PID=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$LX_SSHD_PORT) 2>/dev/null && break; sleep 0.2; done
}
# lx_time_login PORT USER KEY: one `ssh USER@127.0.0.1 true` (curve25519-sha256);
# prints its ms, fails with ssh's status.
lx_time_login() {
    local t0 rc
    t0=$(now)
    timeout 120 ssh -p "$1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o BatchMode=yes -o IdentitiesOnly=yes -o KexAlgorithms=curve25519-sha256 -i "$3" "$2@127.0.0.1" true
    rc=$?
    ms_since "$t0"
    return $rc
}
