#!/usr/bin/env bash
# kvm_amd is loaded with nested paging, so L2 guests get NPT, not shadow paging.
. "$NESTED_REPO/tests/nested/caselib.sh"
[ -d /sys/module/kvm_amd ] || fail "kvm_amd is not loaded"
expect_eq "kvm_amd npt" "$(cat /sys/module/kvm_amd/parameters/npt)" Y
echo "kvm_amd: npt=Y nested=$(cat /sys/module/kvm_amd/parameters/nested)"
