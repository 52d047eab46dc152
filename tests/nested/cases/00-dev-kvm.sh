#!/usr/bin/env bash
# /dev/kvm exists in L1 and is a character device (misc 10:232).
. "$NESTED_REPO/tests/nested/caselib.sh"
[ -c /dev/kvm ] || fail "/dev/kvm is missing or not a character device"
expect_eq "/dev/kvm device number" "$(stat -c '%t:%T' /dev/kvm)" "a:e8"
echo "/dev/kvm is present"
