#!/usr/bin/env bash
# tests/agent/run-agent-tests.sh TEST_BIN AGENT_BIN RESULT_DIR
# Runs the agent tier's C test program and turns its "ok/fail/skip NAME" lines
# into testlib results.
set -u
. tests/lib/testlib.sh
t_begin agent "$3"
start=$(date +%s)
if [ "$(id -u)" != 0 ]; then
    t_fail setup "the agent tier needs root"
    t_end; exit $?
fi
out=$(timeout 300 "$1" "$2" 2>&1); rc=$?
while IFS= read -r line; do
    case $line in
        "ok "*) t_ok "${line#ok }" ;;
        "fail "*) rest=${line#fail }; t_fail "${rest%%:*}" "${rest#*: }" ;;
        "skip "*) rest=${line#skip }; t_skip "${rest%%:*}" "${rest#*: }" ;;
        *) echo "  $line" ;;
    esac
done <<< "$out"
[ $rc -eq 0 ] || [ $t_failed -gt 0 ] || t_fail agent-test "exited with $rc"
echo "agent: $(( $(date +%s) - start )) s"
t_end
