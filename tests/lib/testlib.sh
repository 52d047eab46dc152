# tests/lib/testlib.sh - helpers for shell-driven test tiers.
#
#   . tests/lib/testlib.sh
#   t_begin TIER RESULT_DIR     # RESULT_DIR is $(B)/test-results
#   t_ok NAME | t_fail NAME WHY | t_skip NAME WHY   (a skip always says why)
#   t_check NAME CMD...         # ok if CMD exits 0, else fail with its output
#   t_end                       # prints "TIER: N passed, N failed, N skipped"
#                               # and returns non-zero if anything failed
# Results go to RESULT_DIR/TIER.result (tests/lib/summary reads *.result).
# A tier that cannot run at all must t_fail, never skip everything silently.
t_tier="" t_dir="" t_passed=0 t_failed=0 t_skipped=0

t_begin() { t_tier=$1; t_dir=$2; t_passed=0; t_failed=0; t_skipped=0; mkdir -p "$t_dir"; }
t_ok() { t_passed=$((t_passed + 1)); echo "[       OK ] $t_tier: $1"; }
t_fail() { t_failed=$((t_failed + 1)); echo "[  FAILED  ] $t_tier: $1: ${2:-}"; }
t_skip() { t_skipped=$((t_skipped + 1)); echo "[  SKIPPED ] $t_tier: $1: ${2:?a skip must say why}"; }
t_check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then t_ok "$name"; else t_fail "$name" "$(printf '%s' "$out" | tail -n 5)"; fi
}
# dump_lost_state FILE: does a death dump (vm boot -v) say the faulting state
# was lost? KVM on AMD (kvm_amd: the nested L1, SVM hosts) re-initialises a
# vCPU on a triple fault, so its dump holds the INIT state (rip fff0, code at
# rip not mapped) and says so; VMX and KVM-PVM keep the faulting state.
dump_lost_state() { grep -q "this is the INIT state: KVM on AMD" "$1"; }
t_end() {
    echo "$t_passed $t_failed $t_skipped" > "$t_dir/$t_tier.result"
    echo "$t_tier: $t_passed passed, $t_failed failed, $t_skipped skipped"
    [ "$t_failed" -eq 0 ]
}
