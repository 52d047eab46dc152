# tests/nested/nestedlib.sh - what callers of tests/nested/run share.
#
# l1_lost RC STDERR-FILE: did L1 itself die or hang (rather than the command
# fail)? run exits 125 with "L1 stopped ..." when L1 died under the command,
# 124 when it hung (timeout, watchdog or heartbeat). Such a run may be
# repeated in a new L1 boot; a command that ran and failed may not.
l1_lost() {
    { [ "$1" = 125 ] && grep -q "^nested: L1 stopped" "$2" 2>/dev/null; } || [ "$1" = 124 ]
}
