#!/usr/bin/env bash
# A tiny KVM program creates a VM, runs real-mode code to an `out`, and checks
# every exit (tests/nested/kvm-smoke.c, built by `make` for the host).
# timeout: 60
. "$NESTED_REPO/tests/nested/caselib.sh"
bin=$NESTED_BUILD/tests/nested/kvm-smoke
[ -x "$bin" ] || fail "$bin is not built (make $bin)"
"$bin" 10000000 || fail "kvm-smoke failed"
