# shellcheck shell=bash
# tests/nested/linuxlib.sh - shared by the real-Linux-guest cases 3x-*.sh
# (issue 9), sourced after caselib.sh. All of them use one private Burrow
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
lx_init() {
    mkdir -p "$LX/state" "$LX_RUN"
    printf '[vm]\ntemplate = linux\npool_size = 0\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
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
# Where the VM of USER's fork keeps its files.
lx_vm_dir() { grep -l "^user = $1\$" "$LX_RUN"/vm/*/meta 2>/dev/null | head -n 1 | xargs -r dirname; }
