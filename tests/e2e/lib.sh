# tests/e2e/lib.sh - start/stop burrowd for the e2e tier and the ssh benchmark.
# Needs: B (build dir), E2E_IMAGE (sandbox root image). Sets T, PORT, SSHO.
# burrowd is the test flavour ($B/test/bin: test hooks compiled in, e.g. the
# session backtraces below, common/testhook.h) unless BURROWD names another.
BURROWD=${BURROWD:-$B/test/bin/burrowd}

# e2e_pick_image: E2E_IMAGE, else the full guest image when built, else the
# kernel-less sandbox image.
e2e_pick_image() {
    [ -n "${E2E_IMAGE:-}" ] && return 0
    if [ -f "$B/guest/initramfs.cpio.gz" ]; then E2E_IMAGE=$B/guest/initramfs.cpio.gz
    else E2E_IMAGE=$B/sandbox/rootfs.cpio.gz; fi
}

e2e_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# e2e_setup: temp dirs, config, host keys, users alice (key), bob (key+password),
# carol (locked). Short paths: unix socket paths must fit in 108 bytes.
e2e_setup() {
    T=$(mktemp -d /tmp/bre2e.XXXXXX)
    chmod 0755 "$T" # session processes (unprivileged after auth) reach run_dir/vm/
    PORT=$(e2e_free_port)
    mkdir -p "$T/state/sandbox" "$T/run"
    cp "$E2E_IMAGE" "$T/state/sandbox/initramfs.cpio.gz"
    for k in alice bob wrong; do ssh-keygen -q -t ed25519 -N '' -C "$k" -f "$T/$k"; done
    e2e_config "${1:-}"
    BCTL="$B/bin/burrowctl -c $T/burrow.ini"
    $BCTL user add alice --key-file "$T/alice.pub" --disk-size 32M >/dev/null
    printf 'sesame-1234' | $BCTL user add bob --key-file "$T/bob.pub" --password-stdin --disk-size 32M >/dev/null
    $BCTL user add carol --key-file "$T/alice.pub" --disk-size 32M >/dev/null
    $BCTL user lock carol >/dev/null
    # dave: authorized_keys options (restrict + a forced command); erin: from= elsewhere
    ssh-keygen -q -t ed25519 -N '' -C dave -f "$T/dave"
    ssh-keygen -q -t ed25519 -N '' -C erin -f "$T/erin"
    printf 'restrict,command="echo forced:$SSH_ORIGINAL_COMMAND; tty" %s\n' "$(cat "$T/dave.pub")" > "$T/dave.keys"
    printf 'from="192.0.2.0/24" %s\n' "$(cat "$T/erin.pub")" > "$T/erin.keys"
    $BCTL user add dave --key-file "$T/dave.keys" --disk-size 32M >/dev/null
    $BCTL user add erin --key-file "$T/erin.keys" --disk-size 32M >/dev/null
    SSHO=(-p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o ConnectTimeout=10 -o KexAlgorithms=curve25519-sha256)
}

# e2e_config EXTRA: (re)write burrow.ini; EXTRA lines go into [ssh] (they may
# open further sections, e.g. [auth], after their [ssh] lines).
e2e_config() {
    cat > "$T/burrow.ini" <<INI
[ssh]
listen = 0.0.0.0 ::
port = $PORT
password_auth = yes
max_auth_tries = ${E2E_MAX_AUTH_TRIES:-6}
max_startups = ${E2E_MAX_STARTUPS:-100:30:200}
login_grace_time = ${E2E_GRACE:-30}
banner = $T/banner
${1:-}
[vm]
backend = sandbox
idle_timeout = ${E2E_IDLE:-600}
max_vms = ${E2E_MAX_VMS:-8}
memory_mb = 256
[paths]
state_dir = $T/state
run_dir = $T/run
INI
    echo "Welcome to the Burrow e2e test" > "$T/banner"
}

# e2e_start: run burrowd in the background (log in $T/log), wait for READY=1 on
# a test NOTIFY_SOCKET (recorded in $T/notify.out).
e2e_start() {
    [ -n "${NOTIFY_PID:-}" ] && kill "$NOTIFY_PID" 2>/dev/null
    rm -f "$T/notify.sock" "$T/notify.out"
    python3 - "$T/notify.sock" "$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        try:
            out.write(s.recv(4096) + b"\n")
        except socket.timeout:
            break
PY
    NOTIFY_PID=$!
    local i
    for i in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
    # E2E_WRAP: a command line burrowd runs under (ops.sh: the unit's capability set);
    # E2E_BURROWD_ARGS: extra options, e.g. -d.
    # shellcheck disable=SC2086
    NOTIFY_SOCKET=$T/notify.sock BURROW_SESSION_BACKTRACE=1 setsid ${E2E_WRAP:-} "$BURROWD" ${E2E_BURROWD_ARGS:-} -c "$T/burrow.ini" >> "$T/log" 2>&1 &
    BURROWD_PID=$!
    for i in $(seq 200); do
        grep -q READY=1 "$T/notify.out" 2>/dev/null && return 0
        kill -0 "$BURROWD_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "burrowd did not become ready:"; tail -n 20 "$T/log"
    return 1
}

e2e_stop() {
    [ -n "${BURROWD_PID:-}" ] && kill "$BURROWD_PID" 2>/dev/null
    wait "$BURROWD_PID" 2>/dev/null || true
    BURROWD_PID=
}

# Stop every sandbox of this run (their supervisors are not burrowd's children
# once it exits) and remove the temp tree.
e2e_cleanup() {
    e2e_stop
    [ -n "${NOTIFY_PID:-}" ] && kill "$NOTIFY_PID" 2>/dev/null
    local f pid
    for f in "$T"/run/vm/*/meta; do
        [ -f "$f" ] || continue
        pid=$(sed -n 's/^pid = //p' "$f")
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    # Session processes and sandbox inits of this run carry our config path in
    # their command line (forked from burrowd): end those, by pid.
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        { tr '\0' ' ' < "$f"; } 2>/dev/null | grep -qF -- "-c $T/burrow.ini" && kill "$pid" 2>/dev/null
    done
    sleep 0.5
    [ -n "${E2E_KEEP:-}" ] || rm -rf "$T"
}

# The registry directory (run_dir/vm/<id>) of USER's VM, or nothing.
e2e_vmdir() {
    local f
    for f in "$T"/run/vm/*/meta; do
        [ -f "$f" ] && grep -qx "user = $1" "$f" && { dirname "$f"; return 0; }
    done
    return 1
}

# e2e_logins USER: how many logins of USER burrowd has logged so far.
e2e_logins() { grep -c "login: user=$1 " "$T/log"; }

# e2e_wait_login USER N: a session started in the background is in: up to
# 120 s for burrowd's Nth login line of USER, then 1 s for her command to
# reach the VM. A fixed sleep is not enough where every instruction is
# emulated (the nested L1): the login itself can take seconds there.
e2e_wait_login() {
    local i
    for i in $(seq 1200); do
        [ "$(e2e_logins "$1")" -ge "$2" ] && { sleep 1; return 0; }
        sleep 0.1
    done
    return 1
}

# ssh as USER with KEY: e2e_ssh USER KEY [ssh args / command...]
e2e_ssh() {
    local user=$1 key=$2; shift 2
    ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/$key" "$user@127.0.0.1" "$@"
}

# e2e_sshd_start: Debian's OpenSSH sshd as the benchmarks' baseline, on a free
# port SPORT (pid SSHD_PID, log $T/sshd.log), root logging in with alice's key,
# the same key exchange as the client asks of burrowd (curve25519-sha256).
e2e_sshd_start() {
    SPORT=$(e2e_free_port)
    ssh-keygen -q -t ed25519 -N '' -f "$T/sshd_host_ed25519"
    cp "$T/alice.pub" "$T/sshd_authorized_keys"
    mkdir -p /run/sshd
    cat >"$T/sshd_config" <<CFG
Port $SPORT
ListenAddress 127.0.0.1
HostKey $T/sshd_host_ed25519
PidFile $T/sshd.pid
AuthorizedKeysFile $T/sshd_authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
KexAlgorithms curve25519-sha256
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
    /usr/sbin/sshd -D -f "$T/sshd_config" -E "$T/sshd.log" &
    SSHD_PID=$!
    local i
    for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null && break; sleep 0.1; done
}
