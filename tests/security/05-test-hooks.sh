# tests/security/05-test-hooks.sh - sourced by run-tests: test hooks exist in
# the test flavour only (common/testhook.h). The binaries `make install`
# installs ($B/bin) hold no hook's name and ignore its variable; log-only
# seccomp is the config setting [security] seccomp = log, which burrowd
# announces loudly at start.
. tests/e2e/lib.sh
E2E_IMAGE=$B/sandbox/rootfs.cpio.gz
HOOK_NAMES='BURROW_TEST_|BURROW_SESSION_BACKTRACE|BURROW_SECCOMP_LOG'

sec_hooks() {
    local f found=""
    for f in "$B/bin/burrowd" "$B/bin/burrowctl"; do
        grep -qaE "$HOOK_NAMES" "$f" && found="$found $f: $(grep -aoE "${HOOK_NAMES}[A-Z_]*" "$f" | sort -u | tr '\n' ' ')"
    done
    [ -z "$found" ] && t_ok "installed binaries hold no test hook's name" || t_fail hook-names "$found"
    grep -qa BURROW_TEST_FORBIDDEN_SYSCALL "$B/test/bin/burrowd" &&
        t_ok "the test flavour has the hooks (the check above can fail)" ||
        t_fail hook-names-test "no hook in $B/test/bin/burrowd"
    # The installed burrowctl: a jailed VMM runs on through the would-be trigger.
    BURROW_TEST_FORBIDDEN_SYSCALL=vmm timeout 60 "$B/bin/burrowctl" -c "$tmp/enforce.ini" \
        vm boot --kernel "$tg" --jail </dev/null >"$tmp/prod-boot.out" 2>"$tmp/prod-boot.err"
    local rc=$?
    [ $rc -eq 0 ] && grep -q "testguest: ok" "$tmp/prod-boot.out" &&
        t_ok "installed burrowctl ignores BURROW_TEST_FORBIDDEN_SYSCALL (jailed VMM ran to the end)" ||
        t_fail hook-env-ctl "rc=$rc: $(tail -n 2 "$tmp/prod-boot.err")"
    # The installed burrowd: it starts, serves a login and is not killed.
    e2e_setup
    BURROWD=$B/bin/burrowd BURROW_TEST_FORBIDDEN_SYSCALL=1 BURROW_TEST_HOSTILE_NET=connect \
        e2e_start >/dev/null
    local out
    out=$(e2e_ssh alice alice echo served 2>&1)
    if [ "$out" = served ] && kill -0 "$BURROWD_PID" 2>/dev/null && ! grep -q "crashed\|hostile" "$T/log"; then
        t_ok "installed burrowd ignores BURROW_TEST_FORBIDDEN_SYSCALL and BURROW_TEST_HOSTILE_NET"
    else
        t_fail hook-env-burrowd "ssh: '$out'; $(tail -n 3 "$T/log")"
    fi
    e2e_stop
    # Log mode only from the config, and said loudly.
    printf '[security]\nseccomp = log\n' >>"$T/burrow.ini"
    : >"$T/log"
    BURROWD=$B/bin/burrowd e2e_start >/dev/null
    grep -q "seccomp = log.*NOT ENFORCED" "$T/log" &&
        t_ok "burrowd announces [security] seccomp = log at start" ||
        t_fail seccomp-log-announce "$(head -n 5 "$T/log")"
    e2e_cleanup
}
sec_hooks
