# tests/security/20-session.sh - sourced by run-tests: burrowd's session
# processes (the root monitor and its jailed net child, broker/session/monitor.h),
# seen from outside (seccomp, uid, namespaces, hidden files, who holds the
# TCP connection), killed by SIGSYS through the test-only trigger, and a
# net child that acts hostile (BURROW_TEST_HOSTILE_NET) ended by its monitor.
. tests/e2e/lib.sh
. tests/security/jail.sh
E2E_IMAGE=$B/sandbox/rootfs.cpio.gz
# e2e_start leaves a notify listener (60 s timeout) per start: end each one.
sec_stop() {
    e2e_stop
    [ -n "${NOTIFY_PID:-}" ] && kill "$NOTIFY_PID" 2>/dev/null
    NOTIFY_PID=
}
# sec_sessions: the session processes (monitors) burrowd started, not its sandboxes.
sec_sessions() {
    local p
    for p in $(pgrep -P "$BURROWD_PID"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--session-process" && echo "$p"
    done
}

# sec_net_child PID PHASE: the jailed net child's /proc view (jail.sh).
sec_net_child() { sec_jailed "$1" "net child $2" "net-$2"; }

# sec_tcp_owner MONITOR CHILD PHASE: only the net child holds the client's TCP connection.
sec_tcp_owner() {
    local users
    users=$(ss -Htnp state established "( sport = :$PORT )" 2>/dev/null)
    if echo "$users" | grep -q "pid=$2," && ! echo "$users" | grep -q "pid=$1,"; then
        t_ok "$3: the TCP connection is held by the net child only, not by the monitor"
    else
        t_fail "tcp-owner-$3" "monitor $1, net child $2: $users"
    fi
}

# sec_connect_preauth [OTHER]: open a connection on fd 7 that does not log in; its
# monitor in $mon and jailed net child in $nc (empty if none showed up), the
# server's version line in $banner; the monitor OTHER is not it. The caller closes fd 7.
sec_connect_preauth() {
    local p
    mon="" nc="" banner=""
    exec 7<>"/dev/tcp/127.0.0.1/$PORT"
    read -t 10 -r banner <&7
    for _ in $(seq 50); do
        for p in $(sec_sessions); do
            [ "$p" = "${1:-}" ] && continue
            nc=$(pgrep -P "$p" | head -n 1)
            [ -n "$nc" ] && mon=$p && break
        done
        [ -n "$nc" ] && grep -q "^Seccomp:[[:space:]]*2" "/proc/$nc/status" 2>/dev/null && break
        sleep 0.1
    done
}

# sec_preauth: a connection that has not logged in yet.
sec_preauth() {
    local mon nc banner
    sec_connect_preauth
    if [ -z "$nc" ]; then
        t_fail preauth-processes "no monitor with a net child under burrowd (banner: ${banner:-none})"
    else
        local st=/proc/$mon/status
        [ "$(awk '/^Uid:/ {print $2}' "$st")" = 0 ] && grep -q "^Seccomp:[[:space:]]*2" "$st" &&
            grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
            [ "$(readlink /proc/$mon/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
            [ "$(readlink /proc/$mon/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
            t_ok "monitor before auth: root (it reads user records), Seccomp 2, NoNewPrivs 1, own mount and net namespaces" ||
            t_fail monitor-preauth "$(grep -E 'Seccomp|NoNewPrivs|Uid' "$st" | tr '\n' ' ')"
        # PID 1 of its own pid namespace, a /proc of its own (itself and its net
        # child), only CAP_KILL, CAP_SETGID, CAP_SETUID and CAP_SYS_ADMIN left.
        local procs
        procs=$(ls "/proc/$mon/root/proc" | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ')
        [ "$(readlink /proc/$mon/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] &&
            grep -q "^NSpid:.*[[:space:]]1$" "$st" && [ "$procs" = "1 2 " ] &&
            t_ok "monitor before auth: PID 1 of its own pid namespace; its /proc shows itself and its net child only" ||
            t_fail monitor-pidns "$(grep NSpid "$st"); its /proc: $procs"
        grep -q "^CapEff:[[:space:]]*00000000002000e0$" "$st" && grep -q "^CapBnd:[[:space:]]*00000000002000e0$" "$st" &&
            t_ok "monitor before auth: capabilities KILL, SETGID, SETUID, SYS_ADMIN only (effective and bounding)" ||
            t_fail monitor-caps "$(grep -E '^Cap(Eff|Prm|Bnd)' "$st" | tr '\n' ' ')"
        sec_net_child "$nc" "before auth"
        sec_tcp_owner "$mon" "$nc" "before auth"
    fi
    exec 7>&-
}

# sec_net_uids MONITOR NETCHILD: another connection's net child runs as another uid
# (0x4f000000 + its monitor's host pid; in its pid namespace every net child is pid 2).
sec_net_uids() {
    local mon nc banner u1 u2
    u1=$(awk '/^Uid:/ {print $2}' "/proc/$2/status")
    sec_connect_preauth "$1"
    u2=$(awk '/^Uid:/ {print $2}' "/proc/${nc:-0}/status" 2>/dev/null)
    exec 7>&-
    if [ -n "$u2" ] && [ "$u1" != "$u2" ] && [ "$u1" = $((NET_UID_MIN + $1)) ] &&
        [ "$u2" = $((NET_UID_MIN + mon)) ]; then
        t_ok "two connections' net children: two uids, 0x4f000000 + each monitor's pid ($u1, $u2)"
    else
        t_fail net-child-uids "monitor $1: uid $u1; another connection's (monitor $mon): '$u2'"
    fi
}

# A libssh exploit in a net child finds no other user's secrets: bob's VM
# runs (the master's VM table holds his record, password hash included),
# then a connection that has not logged in yet is searched for his hash.
sec_net_child_memory() {
    local hash mon nc banner master child monitor
    hash=$(sed -n 's/^password = "\(.*\)"$/\1/p' "$T/state/users/bob/user.ini")
    e2e_ssh bob bob true >/dev/null 2>&1
    sec_connect_preauth
    master=$(sec_mem_has "$BURROWD_PID" "$hash")
    child=$(sec_mem_has "${nc:-0}" "$hash" 2>&1)
    monitor=$(sec_mem_has "${mon:-0}" "$hash" 2>&1)
    exec 7>&-
    if [ "${#hash}" -gt 40 ] && [ "$master" = found ] && [ "$child" = absent ] && [ "$monitor" = absent ]; then
        t_ok "another user's password hash (in the master's memory) is in neither the net child's nor the monitor's"
    else
        t_fail net-child-memory "hash '${hash:0:20}...': master $master, net child $child, monitor $monitor"
    fi
}

# sec_forbidden TRIGGER OKTEXT: burrowd with BURROW_TEST_FORBIDDEN_SYSCALL=TRIGGER; a
# login makes the session's process in that role make the call: it must die by SIGSYS.
sec_forbidden() {
    BURROW_TEST_FORBIDDEN_SYSCALL=$1 e2e_start >/dev/null || { t_fail "$1" "burrowd did not start"; return; }
    e2e_ssh alice alice true >/dev/null 2>&1
    sleep 0.3
    if grep -q "crashed: signal 31" "$T/log"; then
        t_ok "$2"
    else
        t_fail "$1-sigsys" "$(tail -n 3 "$T/log")"
    fi
    sec_stop
    : >"$T/log"
}

# sec_hostile HOW WANT: a net child acting as if libssh were taken over.
sec_hostile() {
    BURROW_TEST_HOSTILE_NET=$1 e2e_start >/dev/null || { t_fail "hostile-$1" "burrowd did not start"; return; }
    timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; sleep 2" 2>/dev/null
    sleep 0.3
    if grep -q "broke the monitor protocol ($2): killed" "$T/log" && ! grep -q "handed over" "$T/log"; then
        t_ok "a net child that $3 is killed by its monitor"
    else
        t_fail "hostile-$1" "$(grep -E 'hostile|monitor' "$T/log" | tail -n 3)"
    fi
    sec_stop
    : >"$T/log"
}

sec_session() {
    e2e_setup
    if ! e2e_start; then
        t_fail session-start "burrowd did not start: $(tail -n 5 "$T/log")"
        return
    fi
    local mst=/proc/$BURROWD_PID/status
    # Root loads its filter without NO_NEW_PRIVS: the children that need it set it
    # themselves, and a sandbox with allow_root keeps its set-id programs.
    grep -q "^Seccomp:[[:space:]]*2" "$mst" && grep -q "^NoNewPrivs:[[:space:]]*0" "$mst" &&
        t_ok "burrowd master: Seccomp 2 (its deny-list), NoNewPrivs 0, and it serves logins" ||
        t_fail master-seccomp "$(grep -E 'Seccomp|NoNewPrivs' "$mst" | tr '\n' ' ')"
    sec_preauth
    sec_net_child_memory
    # Long enough for every check below under TCG in the nested L1 (a 3 s
    # session once ended under a loaded host before its /proc was read).
    e2e_ssh alice alice 'sleep 60' &
    local sshpid=$! pid="" p
    for _ in $(seq 80); do
        for p in $(sec_sessions); do
            [ "$(awk '/^Uid:/ {print $2}' /proc/$p/status 2>/dev/null)" -ge $SESSION_UID_MIN ] 2>/dev/null && pid=$p
        done
        [ -n "$pid" ] && break
        sleep 0.1
    done
    if [ -z "$pid" ]; then
        t_fail session-process "no session process after auth under burrowd $BURROWD_PID"
    else
        local nc
        nc=$(pgrep -P "$pid" | head -n 1)
        if [ -n "$nc" ]; then
            sec_net_child "$nc" "after auth"
            sec_tcp_owner "$pid" "$nc" "after auth"
            sec_net_uids "$pid" "$nc"
        else
            t_fail net-child-postauth "the monitor $pid has no net child"
        fi
        local st=/proc/$pid/status
        grep -q "^Seccomp:[[:space:]]*2" "$st" && grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
            t_ok "monitor after auth: Seccomp 2, NoNewPrivs 1, session uid $(awk '/^Uid:/ {print $2}' "$st")" ||
            t_fail session-status "$(grep -E 'Seccomp|NoNewPrivs|Uid' "$st" | tr '\n' ' ')"
        [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
            [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
            t_ok "monitor after auth has its own mount and net namespaces" ||
            t_fail session-ns "shares the host's mount or net namespace"
        if [ -d "$T/state/users/alice" ] && [ -z "$(ls -A "/proc/$pid/root$T/state")" ]; then
            t_ok "monitor after auth cannot see state_dir (user records, host key files)"
        else
            t_fail session-state "sees: $(ls -A "/proc/$pid/root$T/state" | tr '\n' ' ')"
        fi
    fi
    kill $sshpid 2>/dev/null
    wait $sshpid
    sec_stop
    # The master's filter: the test trigger (ptrace) right after it loads kills burrowd.
    timeout 30 env BURROW_TEST_FORBIDDEN_SYSCALL=master "$BURROWD" -c "$T/burrow.ini" >"$T/master.log" 2>&1
    local mrc=$?
    [ $mrc = 159 ] && t_ok "forbidden syscall in the master's deny-list: burrowd dies by SIGSYS" ||
        t_fail master-sigsys "exit $mrc: $(tail -n 2 "$T/master.log")"
    local role call
    for role in session-net session-preauth session-postauth; do
        sec_forbidden "$role" "forbidden syscall in the $role filter: SIGSYS"
    done
    # A compromised pre-auth monitor is root: each call that would act as root
    # beyond its job dies by SIGSYS (no socket or connect at all: the master
    # hands over VM connections; kill only of its child, setresuid/setresgid
    # only to a session id, setuid only 0, no groups, its own rlimits only).
    for call in socket connect kill tgkill setresuid setresgid setuid setgroups prlimit; do
        sec_forbidden "session-preauth:$call" "pre-auth monitor: $call beyond its job dies by SIGSYS"
    done
    sec_hostile connect "not an auth request before auth" "asks for a VM connection before any login"
    sec_hostile flood "a request after max_auth_tries" "keeps asking past max_auth_tries"
    e2e_cleanup
}
sec_session
