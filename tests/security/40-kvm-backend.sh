# tests/security/40-kvm-backend.sh - sourced by run-tests: burrowd's kvm
# backend forks each user's VMM itself (vmm/vmmproc.c, started by broker/vm/backend_kvm.c); that VMM is jailed
# too (no pid namespace: the master watches it by pid), and a session through
# it still works.
sec_kvm_backend() {
    e2e_setup
    e2e_config
    sed -i "s/^backend = sandbox/backend = kvm\ntemplate = tg\npool_size = 0/" "$T/burrow.ini"
    if ! $BCTL template build --name tg --kernel "$tg" --cmdline testguest.mode=agent --mem 64 \
        --vcpus 2 >/dev/null 2>"$T/build.err"; then
        t_fail kvm-backend-template "$(tail -n 2 "$T/build.err")"
        e2e_cleanup
        return
    fi
    if ! e2e_start; then
        t_fail kvm-backend-start "$(tail -n 3 "$T/log")"
        e2e_cleanup
        return
    fi
    local out id pid st
    out=$(e2e_ssh alice alice echo jailed-ok 2>&1)
    id=$($BCTL vm list | awk '$2 == "alice" { print $1 }')
    pid=$(sed -n 's/^pid = //p' "$T/run/vm/$id/meta" 2>/dev/null)
    st=/proc/$pid/status
    if [ "$out" = jailed-ok ] && [ -n "$pid" ] && grep -q "^Seccomp:[[:space:]]*2" "$st" &&
        grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
        [ "$(awk '/^Uid:/ {print $2}' "$st")" -eq $((0x70000000 + pid)) ] &&
        [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
        [ ! -e "/proc/$pid/root$T/state" ] && [ -S "/proc/$pid/root$T/run/vm/$id/vsock.sock" ]; then
        t_ok "burrowd kvm backend: the VMM is jailed (Seccomp 2, NoNewPrivs 1, uid, mount ns, root) and serves ssh"
    else
        t_fail kvm-backend-jail "ssh said '$out'; $(grep -E 'Seccomp|NoNewPrivs|Uid' "$st" 2>&1 | tr '\n' ' ')"
    fi
    # Her 32 MiB home disk is the VMM's file size limit: it cannot grow the image.
    local fsize
    fsize=$(awk '/^Max file size/ { print $4 " " $5 }' "/proc/$pid/limits" 2>/dev/null)
    [ "$fsize" = "33554432 33554432" ] &&
        t_ok "burrowd kvm backend: the VMM's RLIMIT_FSIZE is its home disk's size (32 MiB)" ||
        t_fail kvm-backend-fsize "Max file size: '$fsize'"
    sec_stop
    e2e_cleanup
}
sec_kvm_backend
