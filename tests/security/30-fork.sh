# tests/security/30-fork.sh - sourced by run-tests: VMM processes forked from
# a template (`burrowctl vm fork`) are jailed: seccomp, uid, namespaces, and
# a root that shows neither the host nor another VM's directory.
sec_fork() {
    local ft=$tmp/fork c id a b
    mkdir -p "$ft/state/templates" "$ft/run"
    printf '[vm]\npool_size = 0\n[paths]\nstate_dir = %s/state\nrun_dir = %s/run\n' "$ft" "$ft" >"$ft/burrow.ini"
    c() { "$ctl" -c "$ft/burrow.ini" "$@"; }
    if ! c template build --name tg --kernel "$tg" --cmdline testguest.mode=agent --mem 64 --vcpus 2 \
        >/dev/null 2>"$ft/build.err"; then
        t_fail fork-template "$(tail -n 2 "$ft/build.err")"
        return
    fi
    if ! c vm fork --template tg --count 2 >"$ft/fork.out" 2>&1; then
        t_fail fork-jailed "$(cat "$ft/fork.out")"
        return
    fi
    a=$(sed -n '1s/ .*//p' "$ft/fork.out") b=$(sed -n '2s/ .*//p' "$ft/fork.out")
    local pa pb
    pa=$(sed -n 's/^pid = //p' "$ft/run/vm/$a/meta") pb=$(sed -n 's/^pid = //p' "$ft/run/vm/$b/meta")
    local st=/proc/$pa/status
    if grep -q "^Seccomp:[[:space:]]*2" "$st" && grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
        [ "$(awk '/^Uid:/ {print $2}' "$st")" -ge 1879048192 ] &&
        [ "$(readlink /proc/$pa/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
        grep -q "^NSpid:.*[[:space:]]1$" "$st"; then
        t_ok "forked VMM: Seccomp 2, NoNewPrivs 1, uid $(awk '/^Uid:/ {print $2}' "$st"), own mount ns, PID 1"
    else
        t_fail fork-status "$(grep -E 'Seccomp|NoNewPrivs|Uid|NSpid' "$st" | tr '\n' ' ')"
    fi
    [ "$(awk '/^Uid:/ {print $2}' /proc/$pa/status)" = $((0x70000000 + pa)) ] &&
        [ "$(awk '/^Uid:/ {print $2}' /proc/$pb/status)" = $((0x70000000 + pb)) ] &&
        t_ok "two forked VMMs run as two different uids, each 0x70000000 + its own pid (no hash to collide)" ||
        t_fail fork-uids "$(awk '/^Uid:/ {print $2}' /proc/$pa/status) for pid $pa, $(awk '/^Uid:/ {print $2}' /proc/$pb/status) for pid $pb"
    local r=/proc/$pa/root
    if [ -S "$r$ft/run/vm/$a/vsock.sock" ] && [ ! -e "$r$ft/run/vm/$b" ] && [ ! -e "$r/etc" ] &&
        [ ! -e "$r$ft/state" ] && [ "$(ls -A "$r$ft/run/vm")" = "$a" ]; then
        t_ok "forked VMM's root: its own run dir only (no other VM, no templates, no /etc)"
    else
        t_fail fork-root "sees $(ls -A "$r$ft/run/vm" "$r" 2>&1 | tr '\n' ' ')"
    fi
    c vm kill "$a" >/dev/null 2>&1
    c vm kill "$b" >/dev/null 2>&1
    sleep 0.5
    # The jailed VMM cannot remove its own record; the next listing drops the stale one.
    c vm list >/dev/null 2>&1
    [ ! -e "$ft/run/vm/$a" ] && t_ok "a killed jailed VMM's run dir is gone after vm list" ||
        t_fail fork-cleanup "$(ls -A "$ft/run/vm/$a" 2>&1 | tr '\n' ' ')"
}
sec_fork
