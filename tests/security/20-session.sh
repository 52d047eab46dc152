# tests/security/20-session.sh - sourced by run-tests: burrowd's session
# processes, seen from outside (seccomp, uid, namespaces, hidden state_dir)
# and killed by SIGSYS through the test-only trigger.
. tests/e2e/lib.sh
E2E_IMAGE=$B/sandbox/rootfs.cpio.gz
# e2e_start leaves a notify listener (60 s timeout) per start: end each one.
sec_stop() {
    e2e_stop
    [ -n "${NOTIFY_PID:-}" ] && kill "$NOTIFY_PID" 2>/dev/null
    NOTIFY_PID=
}
sec_session() {
    e2e_setup
    if ! e2e_start; then
        t_fail session-start "burrowd did not start: $(tail -n 5 "$T/log")"
        return
    fi
    local mst=/proc/$BURROWD_PID/status
    grep -q "^Seccomp:[[:space:]]*2" "$mst" && grep -q "^NoNewPrivs:[[:space:]]*1" "$mst" &&
        t_ok "burrowd master: Seccomp 2 (its deny-list), NoNewPrivs 1, and it serves logins" ||
        t_fail master-seccomp "$(grep -E 'Seccomp|NoNewPrivs' "$mst" | tr '\n' ' ')"
    e2e_ssh alice alice 'sleep 3' &
    local sshpid=$! pid="" p
    for _ in $(seq 80); do
        for p in $(pgrep -P "$BURROWD_PID"); do
            [ "$(awk '/^Uid:/ {print $2}' /proc/$p/status 2>/dev/null)" -ge 1342177280 ] 2>/dev/null && pid=$p
        done
        [ -n "$pid" ] && break
        sleep 0.1
    done
    if [ -z "$pid" ]; then
        t_fail session-process "no session process after auth under burrowd $BURROWD_PID"
    else
        local st=/proc/$pid/status
        grep -q "^Seccomp:[[:space:]]*2" "$st" && grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
            t_ok "session process after auth: Seccomp 2, NoNewPrivs 1, uid $(awk '/^Uid:/ {print $2}' "$st")" ||
            t_fail session-status "$(grep -E 'Seccomp|NoNewPrivs|Uid' "$st" | tr '\n' ' ')"
        [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
            [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
            t_ok "session process has its own mount and net namespaces" ||
            t_fail session-ns "shares the host's mount or net namespace"
        if [ -d "$T/state/users/alice" ] && [ -z "$(ls -A "/proc/$pid/root$T/state")" ]; then
            t_ok "session process after auth cannot see state_dir (user records, host key files)"
        else
            t_fail session-state "sees: $(ls -A "/proc/$pid/root$T/state" | tr '\n' ' ')"
        fi
    fi
    wait $sshpid
    sec_stop
    # The master's filter: the test trigger (ptrace) right after it loads kills burrowd.
    timeout 30 env BURROW_TEST_FORBIDDEN_SYSCALL=master "$B/bin/burrowd" -c "$T/burrow.ini" >"$T/master.log" 2>&1
    local mrc=$?
    [ $mrc = 159 ] && t_ok "forbidden syscall in the master's deny-list: burrowd dies by SIGSYS" ||
        t_fail master-sigsys "exit $mrc: $(tail -n 2 "$T/master.log")"
    for role in session-preauth session-postauth; do
        BURROW_TEST_FORBIDDEN_SYSCALL=$role e2e_start >/dev/null || { t_fail "$role" "burrowd did not start"; continue; }
        e2e_ssh alice alice true >/dev/null 2>&1
        sleep 0.3
        if grep -q "crashed: signal 31" "$T/log"; then
            t_ok "forbidden syscall in the $role filter: SIGSYS"
        else
            t_fail "$role-sigsys" "$(tail -n 3 "$T/log")"
        fi
        sec_stop
        : >"$T/log"
    done
    e2e_cleanup
}
sec_session
