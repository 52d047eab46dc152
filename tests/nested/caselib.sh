# shellcheck shell=bash
# tests/nested/caselib.sh - helpers for tests/nested/cases/*.sh (run in L1).
#
#   . "$NESTED_REPO/tests/nested/caselib.sh"
#   skip WHY       stop here: the case is skipped, WHY is reported
#   fail WHY       stop here: the case failed, WHY is reported
#   expect_eq WHAT GOT WANT     fail unless GOT = WANT
# Variables: NESTED_REPO (the project tree, writable), NESTED_BUILD (the build
# tree, absolute), NESTED_SCRATCH (an empty directory on tmpfs, the case's
# cwd, removed afterwards), NESTED_CASE (this case's name).
skip() { echo "skip: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
