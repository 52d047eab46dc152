# tests/security/jail.sh - sourced: what a jailed process that speaks SSH to
# the network looks like from outside (broker/session/confine.h): the SSH
# front's net child (20-session.sh) and a cluster peer session
# (tests/cluster/run.sh). Needs tests/lib/testlib.sh's t_ok/t_fail.
NET_UID_MIN=1325400064 # HOSTUID_NET_BASE (0x4f000000)
SESSION_UID_MIN=1342177280 # HOSTUID_SESSION_BASE (0x50000000)

# sec_jailed PID LABEL TAG: a net-range uid, Seccomp 2, NoNewPrivs 1, no
# capabilities, its own mount and net namespaces, an empty root.
sec_jailed() {
    local pid=$1 label=$2 tag=${3// /-} st=/proc/$1/status uid
    uid=$(awk '/^Uid:/ {print $2}' "$st")
    if [ -n "$uid" ] && [ "$uid" -ge $NET_UID_MIN ] && [ "$uid" -lt $SESSION_UID_MIN ] &&
        grep -q "^Seccomp:[[:space:]]*2" "$st" && grep -q "^NoNewPrivs:[[:space:]]*1" "$st" &&
        grep -q "^CapEff:[[:space:]]*0000000000000000" "$st"; then
        t_ok "$label: per-connection uid $uid, Seccomp 2, NoNewPrivs 1, no capabilities"
    else
        t_fail "$tag-status" "$(grep -E 'Seccomp|NoNewPrivs|Uid|CapEff' "$st" | tr '\n' ' ')"
    fi
    if [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
        [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
        [ -d "/proc/$pid/root/" ] && [ -z "$(ls -A "/proc/$pid/root/")" ]; then
        t_ok "$label: own mount and net namespaces, its root is an empty directory"
    else
        t_fail "$tag-root" "root holds: $(ls -A "/proc/$pid/root/" | head -n 5 | tr '\n' ' ')"
    fi
}

# sec_mem_has PID TEXT: "found" if TEXT is anywhere in PID's readable memory, else "absent".
sec_mem_has() {
    python3 - "$1" "$2" <<'PY'
import sys
pid, needle = sys.argv[1], sys.argv[2].encode()
found = False
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        span, perms = line.split()[:2]
        if perms[0] != "r":
            continue
        lo, hi = (int(x, 16) for x in span.split("-"))
        try:
            mem.seek(lo)
            if needle in mem.read(hi - lo):
                found = True
                break
        except (OSError, OverflowError, ValueError):
            continue
print("found" if found else "absent")
PY
}
