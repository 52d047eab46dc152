# tests/e2e/sandbox.sh - sourced by run.sh after the main sequence: the
# sandbox backend's own promises (broker/vm/sbx_super.c, backend_sandbox.c).
# Uses run.sh's T, BCTL, the users of e2e_setup and the running burrowd.

# sbx_sup USER: the pid of USER's sandbox supervisor (the registry's meta).
sbx_sup() { sed -n 's/^pid = //p' "$(e2e_vmdir "$1")/meta" 2>/dev/null; }
# sbx_kill USER: stop USER's environment through burrowd, if she has one.
sbx_kill() {
    local d
    d=$(e2e_vmdir "$1") && $BCTL vm kill "$(basename "$d")" >/dev/null 2>&1
    return 0
}
# sbx_cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
sbx_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# An idle environment's supervisor sleeps: it reads the agent's heartbeats
# (every 5 s by default) instead of being woken for them for ever.
sbx_idle_cpu() {
    e2e_ssh alice alice true
    local sup t0 t1 hz
    sup=$(sbx_sup alice)
    hz=$(getconf CLK_TCK)
    t0=$(sbx_cpu_ticks "$sup")
    sleep 10
    t1=$(sbx_cpu_ticks "$sup")
    if [ -n "$t0" ] && [ -n "$t1" ] && [ $((t1 - t0)) -lt $((hz / 10)) ]; then
        t_ok "an idle sandbox's supervisor used $((t1 - t0)) ticks of CPU in 10 s (< 1%)"
    else
        t_fail "idle supervisor CPU" "supervisor ${sup:-?}: ${t0:-?} -> ${t1:-?} ticks of $hz/s in 10 s"
    fi
}

# sbx_restart NAME=VALUE...: burrowd again with these in its environment
# (and only this start), after stopping every environment.
sbx_restart() {
    local u kv
    for u in alice bob dave; do sbx_kill "$u"; done
    sleep 0.5
    e2e_stop
    for kv in "$@"; do export "${kv?}"; done
    e2e_start >/dev/null || t_fail "sandbox restart" "$(tail -n 3 "$T/log")"
    for kv in "$@"; do unset "${kv%%=*}"; done
}

# An environment whose agent sent hundreds of heartbeats still opens
# sessions: its control socket never fills up (the agent would block in
# send, and every new login then fail after ~15 s).
sbx_many_heartbeats() {
    sbx_restart BURROW_TEST_AGENT_HEARTBEAT_MS=10
    e2e_ssh alice alice true
    sleep 6 # >= 500 heartbeats; the socket held ~277 before the agent blocked
    local out n
    out=$(e2e_ssh alice alice -o ServerAliveInterval=5 -o ServerAliveCountMax=4 echo still-open 2>&1)
    sbx_kill alice
    sleep 0.5
    n=$(sed -n 's/.*stopping (\([0-9]*\) heartbeats from its agent).*/\1/p' "$T/log" | tail -n 1)
    if [ "$out" = still-open ] && [ "${n:-0}" -ge 400 ]; then
        t_ok "after $n heartbeats from its agent an environment still opens sessions"
    else
        t_fail "many heartbeats" "ssh said '$out' after ${n:-?} heartbeats"
    fi
}

# sbx_as_root USER CMD: run CMD as root inside USER's sandbox (what a user
# with root there can do when allow_root is on): its namespaces, its root.
sbx_as_root() {
    local init
    init=$(pgrep -P "$(sbx_sup "$1")" | head -n 1)
    nsenter -t "$init" -U -m -r -w -- /bin/sh -c "$2"
}

# Root in a sandbox plants a symlink at /run/burrow/agent.sock (run_dir/vm/
# <id>/agent on the host) to a socket of the host: the supervisor, which
# connects there as root for each session, must not follow it.
sbx_agent_symlink() {
    local host=$T/host.sock out
    rm -f "$T/host.log"
    python3 - "$host" "$T/host.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); s.settimeout(20)
try:
    c, _ = s.accept(); open(sys.argv[2], "w").write("connected\n")
except socket.timeout:
    pass
PY
    local lpid=$!
    e2e_ssh alice alice true
    sbx_as_root alice "ln -sf $host /run/burrow/agent.sock" ||
        t_fail "agent.sock symlink" "could not plant it"
    out=$(e2e_ssh alice alice echo reached 2>&1)
    sleep 0.5
    kill "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
    if [ ! -e "$T/host.log" ] && [ "$out" != reached ] && grep -q "agent.sock is not a socket" "$T/log"; then
        t_ok "a symlink planted at the sandbox's agent.sock is not followed (session refused: $(echo "$out" | tr -d '\r' | head -n 1))"
    else
        t_fail "agent.sock symlink" "host socket: $(cat "$T/host.log" 2>/dev/null || echo untouched); ssh: $out"
    fi
    sbx_kill alice
}

# sbx_uid_procs UID: how many processes of the host run as UID.
sbx_uid_procs() {
    # (cat: a process may end between the glob and the read)
    cat /proc/[0-9]*/status 2>/dev/null | awk -v u="$1" '/^Uid:/ && $2 == u { n++ } END { print n + 0 }'
}

# A fork bomb in one sandbox stops at its limit (cgroup pids.max where
# cgroup v2 works, RLIMIT_NPROC per uid in any case) and leaves another
# user's login working. The "bomb" asks for 1100 processes (more than twice
# SBX_PIDS_MAX = 512) that sleep, so it is bounded even without the limit.
sbx_fork_bomb() {
    e2e_ssh alice alice true
    local init base auid huid n out
    init=$(pgrep -P "$(sbx_sup alice)" | head -n 1)
    base=$(awk 'NR == 1 { print $2 }' "/proc/$init/uid_map")
    auid=$(e2e_ssh alice alice 'id -u')
    huid=$((base + auid))
    e2e_ssh alice alice 'i=0; while [ $i -lt 1100 ]; do setsid sleep 60 </dev/null >/dev/null 2>&1 &
        i=$((i + 1)); done' >/dev/null 2>&1
    sleep 1
    n=$(sbx_uid_procs "$huid")
    out=$(e2e_ssh bob bob echo bob-ok 2>&1)
    if [ "$n" -le 512 ] && [ "$n" -ge 400 ] && [ "$out" = bob-ok ]; then
        t_ok "a fork bomb in one sandbox stops at $n processes; another user still logs in"
    else
        t_fail "fork bomb" "alice's uid $huid has $n processes (limit 512); bob: $out"
    fi
    grep -q "sandbox [0-9a-f]*: no cgroup" "$T/log" &&
        t_skip "sandbox cgroup" "$(sed -n 's/.*: no cgroup (\(.*\)):.*/\1/p' "$T/log" | head -n 1)"
    sbx_kill alice
    sbx_kill bob
}

# NO_NEW_PRIVS follows allow_root: without it no set-id program raises a
# user's privileges in her sandbox; with it (root there is the point) they
# work, so nothing the master does may force it on them.
sbx_no_new_privs() {
    local out
    out=$(e2e_ssh alice alice 'grep NoNewPrivs /proc/self/status' 2>&1)
    case "$out" in *"NoNewPrivs:"*1) t_ok "allow_root = no: a sandbox session has NoNewPrivs 1" ;;
        *) t_fail "sandbox NoNewPrivs (allow_root = no)" "$out" ;; esac
    sbx_kill alice
    printf '[users]\nallow_root = yes\n' >>"$T/burrow.ini"
    kill -HUP "$BURROWD_PID"
    sleep 0.5
    out=$(e2e_ssh alice alice 'grep NoNewPrivs /proc/self/status' 2>&1)
    case "$out" in *"NoNewPrivs:"*0) t_ok "allow_root = yes: a sandbox session has NoNewPrivs 0" ;;
        *) t_fail "sandbox NoNewPrivs (allow_root = yes)" "$out" ;; esac
    sbx_kill alice
    e2e_config
    kill -HUP "$BURROWD_PID"
    sleep 0.5
}

sbx_idle_cpu
sbx_many_heartbeats
sbx_agent_symlink
sbx_fork_bomb
sbx_no_new_privs
