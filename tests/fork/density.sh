# shellcheck shell=bash
# tests/fork/density.sh - sourced by tests/fork/run-tests (its helpers, its
# state and run directories, the active test-guest build): the density
# checks (docs/fork.md, "Density") on the host's KVM with the test guest's
# balloon driver and its built-in commands (tests/testguest/balloon.c):
#   - free page reporting: a fork that wrote a range and reported it free
#     reads the template's bytes back, and its VMM's anonymous memory
#     (smaps_rollup) drops by the range;
#   - `vm balloon ID MiB`: the guest inflates to the target (pages it had
#     written come back as the template's, so its memory does not grow),
#     deflates to 0, refusals; the guest's statistics in `vm list --json`;
#   - [vm] idle_reclaim: after that long without a session byte the VMM
#     sends RECLAIM, the guest reports its "cache" free, memory drops; once
#     per idle period; a session byte starts the next one;
#   - [vm] ksm: two forks that wrote the same pages end up sharing them
#     (their VMMs' ksm_merging_pages, pages_sharing rising) within
#     KSM_WAIT_S; with ksm = no nothing is mergeable and run stays as found;
#   - a template whose state predates the balloon still forks (no balloon).
vm_exec=$B/tests/nested/vm-exec
KSM_WAIT_S=${KSM_WAIT_S:-120}
ksm_run0=$(cat /sys/kernel/mm/ksm/run 2>/dev/null || echo none)
# KSM as this tier found it (the tier may have made burrowctl switch it on).
ksm_restore() { [ "$ksm_run0" = 0 ] && echo 0 >/sys/kernel/mm/ksm/run 2>/dev/null; :; }
x() { "$vm_exec" "$run/vm/$1/vsock.sock" guest "$2" 2>&1; } # ID COMMAND: a built-in's output
# vmj ID EXPR: a python expression on the VM's `vm list --json` entry (v), printed.
vmj() {
    "$ctl" -c "${dcfg:-$cfg}" vm list --json | python3 -c '
import json, sys
v = [x for x in json.load(sys.stdin) if x["id"] == sys.argv[1]]
print(eval(sys.argv[2], {"v": v[0]}) if v else "gone")' "$1" "$2"
}
anon() { vmj "$1" 'v["anon_kib"]'; }
# until_true S CMD...: CMD until it succeeds, up to S seconds (0.2 s steps).
until_true() {
    local end=$((SECONDS + $1)) ; shift
    while ! "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
bal_is() { [ "$(vmj "$1" "v['balloon'] and v['balloon']['$2']")" = "$3" ]; }
# fresh_fork CFG: a new VM's id (stdout: burrowctl may say on stderr that it switched KSM on);
# the whole answer stays in $tmp/fork.out (for a failure's message).
fresh_fork() { "$ctl" -c "$1" vm fork >"$tmp/fork.out" 2>"$tmp/fork.err"; cut -d' ' -f1 "$tmp/fork.out"; }

dcfg=$tmp/density.ini
printf '[vm]\ntemplate = tg\npool_size = 0\nidle_reclaim = 0\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
    "$tmp" "$run" >"$dcfg"

# --- free page reporting --------------------------------------------------------
id=$(fresh_fork "$dcfg")
if [ -d "$run/vm/$id" ] && wait_console "$id" "restore ok"; then
    a0=$(anon "$id")
    f=$(x "$id" "fill 5 8") && a1=$(anon "$id")
    m=$(x "$id" "check 5 8")
    rep=$(x "$id" "report 8")
    back=$(x "$id" "check 0 8")
    sleep 0.5 # the VMM's record follows within a tick
    a2=$(anon "$id")
    kib=$(vmj "$id" "v['balloon']['reported_kib']")
    echo "    reporting: anon ${a0} KiB idle, ${a1} KiB after writing 8 MiB, ${a2} KiB after reporting it ($rep; device counted ${kib} KiB)"
    if [ "$f" = filled ] && [ "$m" = match ] && [ "$rep" = "reported 8192 KiB" ] && [ "$back" = match ] &&
        [ $((a1 - a0)) -ge 7168 ] && [ $((a2 - a0)) -lt 1024 ] && [ "$kib" -ge 8192 ]; then
        t_ok "free page reporting: a fork's reported 8 MiB read the template's bytes again, its VMM's anonymous memory fell back ($a1 -> $a2 KiB)"
    else
        t_fail "free page reporting" "fill '$f' check '$m' report '$rep' template-check '$back' anon $a0/$a1/$a2 reported $kib"
    fi

    # --- inflate / deflate through vm balloon ------------------------------------
    b0=$(anon "$id")
    out=$("$ctl" -c "$dcfg" vm balloon "$id" 8 2>&1)
    if [ "$out" = "$id balloon target 8 MiB" ] && until_true 10 bal_is "$id" held_kib 8192 &&
        until_true 5 bal_is "$id" actual_kib 8192 && wait_console "$id" "balloon holds 2048 pages"; then
        b1=$(anon "$id")
        # The guest wrote each page before giving it up: without the drop it would have grown 8 MiB.
        [ $((b1 - b0)) -lt 2048 ] &&
            t_ok "vm balloon $id 8: the guest holds 2048 pages in the balloon, the device counted them, and they were dropped (anon $b0 -> $b1 KiB)" ||
            t_fail "inflated pages dropped" "anon $b0 -> $b1 KiB"
    else
        t_fail "vm balloon 8" "$out; $(vmj "$id" "v['balloon']")"
    fi
    out=$("$ctl" -c "$dcfg" vm balloon "$id" 0 2>&1)
    until_true 10 bal_is "$id" held_kib 0 && until_true 5 bal_is "$id" actual_kib 0 &&
        t_ok "vm balloon $id 0: deflated, nothing held" || t_fail "vm balloon 0" "$out; $(vmj "$id" "v['balloon']")"
    out=$("$ctl" -c "$dcfg" vm balloon "$id" 65 2>&1); rc=$?
    [ $rc = 1 ] && echo "$out" | grep -q "more than the VM's 64 MiB" &&
        t_ok "vm balloon beyond the VM's memory refused: $out" || t_fail "vm balloon 65" "rc $rc: $out"
    bad=0
    for args in "$id" "$id -1" "$id 1x" "not-an-id 4"; do
        # shellcheck disable=SC2086
        "$ctl" -c "$dcfg" vm balloon $args >/dev/null 2>&1; [ $? = 2 ] || bad=1
    done
    "$ctl" -c "$dcfg" vm balloon 000000000000 4 >/dev/null 2>&1; [ $? = 1 ] || bad=1
    [ $bad = 0 ] && t_ok "vm balloon usage errors exit 2, an unknown VM 1" || t_fail "vm balloon refusals" "wrong exit codes"
    st=$(vmj "$id" "(v['balloon']['guest_total_kib'], v['balloon']['guest_free_kib'] is not None, v['balloon']['stats_age_s'] is not None)")
    [ "$st" = "(49152, True, True)" ] &&
        t_ok "vm list --json shows the guest's own statistics from the stats queue (total 48 MiB as the test guest reports it)" ||
        t_fail "balloon statistics" "$st"
    "$ctl" -c "$dcfg" vm kill "$id" >/dev/null
else
    t_fail "density fork" "$(cat "$tmp/fork.out" "$tmp/fork.err"): $(console "$id" | tail -2)"
fi

# --- [vm] idle_reclaim ------------------------------------------------------------
icfg=$tmp/idle.ini
sed 's/^idle_reclaim = 0$/idle_reclaim = 2/' "$dcfg" >"$icfg"
dcfg=$icfg
id=$(fresh_fork "$icfg")
x "$id" "fill 3 8" >/dev/null
r0=$(vmj "$id" "v['balloon']['reclaims']")
a1=$(anon "$id")
if until_true 15 bal_is "$id" reported_kib 8192; then
    a2=$(anon "$id")
    r1=$(vmj "$id" "v['balloon']['reclaims']")
    sleep 5 # twice the idle time: no second RECLAIM without a session byte
    r2=$(vmj "$id" "v['balloon']['reclaims']")
    x "$id" true >/dev/null
    until_true 10 bal_is "$id" reclaims $((r2 + 1)); r3=$(vmj "$id" "v['balloon']['reclaims']")
    echo "    idle reclaim: anon $a1 -> $a2 KiB; RECLAIMs $r0 at the fill, $r1 after it, $r2 5 s later, $r3 after one more session"
    if [ $((a1 - a2)) -ge 7168 ] && [ "$r2" = "$r1" ] && [ "$r3" = $((r2 + 1)) ] &&
        grep -q "no session byte for 2 s: asked the agent" "$run/vm/$id/vmm.log" &&
        grep -q "idle reclaim: the agent dropped caches" "$run/vm/$id/vmm.log" && wait_console "$id" "testguest: reclaim flags=3"; then
        t_ok "[vm] idle_reclaim = 2: RECLAIM after 2 s without a session byte, the guest's freed 8 MiB reported, once per idle period, again after a session"
    else
        t_fail "idle reclaim" "anon $a1 -> $a2, reclaims $r0/$r1/$r2/$r3; $(tail -n 3 "$run/vm/$id/vmm.log")"
    fi
else
    t_fail "idle reclaim" "nothing reported within 15 s: $(vmj "$id" "v['balloon']"); $(tail -n 3 "$run/vm/$id/vmm.log")"
fi
"$ctl" -c "$icfg" vm kill "$id" >/dev/null
dcfg=$tmp/density.ini

# --- [vm] ksm -----------------------------------------------------------------------
mergeable() { grep -c "^VmFlags:.* mg" "/proc/$1/smaps" 2>/dev/null || :; } # MADV_MERGEABLE mappings
kcfg=$tmp/noksm.ini
printf '[vm]\ntemplate = tg\npool_size = 0\nksm = no\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
    "$tmp" "$run" >"$kcfg"
if [ "$ksm_run0" = none ]; then
    t_skip "ksm" "this kernel has no /sys/kernel/mm/ksm"
else
    echo 0 >/sys/kernel/mm/ksm/run 2>/dev/null
    id=$(fresh_fork "$kcfg")
    p=$(vmj "$id" 'v["pid"]')
    [ "$(cat /sys/kernel/mm/ksm/run)" = 0 ] && [ "$(mergeable "$p")" = 0 ] &&
        t_ok "[vm] ksm = no: KSM left off as found, nothing of the VMM mergeable" ||
        t_fail "ksm = no" "run $(cat /sys/kernel/mm/ksm/run), $(mergeable "$p") mergeable mappings"
    "$ctl" -c "$kcfg" vm kill "$id" >/dev/null
    id1=$("$ctl" -c "$dcfg" -v vm fork 2>"$tmp/ksm.err" | cut -d' ' -f1)
    err=$(grep "switched KSM on" "$tmp/ksm.err")
    said=$(grep "ksm: switched on" "$run/vm/$id1/vmm.log")
    [ -n "$err" ] && [ -n "$said" ] && [ "$(cat /sys/kernel/mm/ksm/run)" = 1 ] &&
        t_ok "[vm] ksm = yes: vm fork switched KSM on and said so (-v: $err; the VM's vmm.log: ${said#*info: })" ||
        t_fail "ksm switched on" "run $(cat /sys/kernel/mm/ksm/run): $(cat "$tmp/ksm.err"); vmm.log: $said"
    id2=$(fresh_fork "$dcfg")
    s0=$(cat /sys/kernel/mm/ksm/pages_sharing)
    x "$id1" "fill 7 8" >/dev/null
    x "$id2" "fill 7 8" >/dev/null
    p1=$(vmj "$id1" 'v["pid"]') p2=$(vmj "$id2" 'v["pid"]')
    merged() { [ "$(cat "/proc/$p1/ksm_merging_pages")" -ge 1024 ] && [ "$(cat "/proc/$p2/ksm_merging_pages")" -ge 1024 ]; }
    t0=$SECONDS
    if [ "$(mergeable "$p1")" -ge 1 ] && until_true "$KSM_WAIT_S" merged; then
        s1=$(cat /sys/kernel/mm/ksm/pages_sharing)
        st=$("$ctl" -c "$dcfg" status --json)
        echo "    ksm: merged after $((SECONDS - t0)) s: $(cat "/proc/$p1/ksm_merging_pages") and $(cat "/proc/$p2/ksm_merging_pages") pages; pages_sharing $s0 -> $s1; status: $st"
        [ "$s1" -gt "$s0" ] && echo "$st" | grep -q '"ksm_run":1' && echo "$st" | grep -q '"ksm_pages_sharing":[1-9]' &&
            t_ok "[vm] ksm: two forks' identical 8 MiB merged within $((SECONDS - t0)) s (bound ${KSM_WAIT_S} s); pages_sharing rose; burrowctl status shows it" ||
            t_fail "ksm counters" "pages_sharing $s0 -> $s1; status $st"
    else
        t_fail "ksm merging" "after ${KSM_WAIT_S} s: $(cat "/proc/$p1/ksm_merging_pages" "/proc/$p2/ksm_merging_pages" 2>&1 | tr '\n' ' ')pages; $(mergeable "$p1") mergeable mappings"
    fi
    "$ctl" -c "$dcfg" vm kill "$id1" >/dev/null
    "$ctl" -c "$dcfg" vm kill "$id2" >/dev/null
    ksm_restore
fi

# --- a template from before the balloon ------------------------------------------------
# Its guest never bound a balloon (testguest.balloon=off) and its state has no
# balloon slot (old_state drops it): what a build of an older Burrow left.
old=$(c template build --name tgold --kernel "$tg" --cmdline "testguest.mode=agent testguest.balloon=off" \
    --mem 64 --vcpus 2 2>/dev/null)
st=$tdir/$old/state
chmod u+w "$st" 2>/dev/null
if [ -f "$st" ] && "$B/tests/fork/old_state" "$st" "$tmp/state.old" && cp "$tmp/state.old" "$st"; then
    out=$("$ctl" -c "$dcfg" vm fork --template tgold 2>"$tmp/fork.err")
    id=${out%% *}
    bout=$("$ctl" -c "$dcfg" vm balloon "$id" 4 2>&1); rc=$?
    if wait_console "$id" "restore ok" && [ "$(vmj "$id" "v['balloon']")" = None ] && [ $rc = 1 ] &&
        echo "$bout" | grep -q "no balloon device" && grep -q "has no virtio-balloon" "$run/vm/$id/vmm.log" &&
        tests/fork/vsock-echo "$run/vm/$id/vsock.sock" old-template >/dev/null 2>&1; then
        t_ok "a template whose state predates the balloon still forks (no balloon, said in vmm.log): $bout"
    else
        t_fail "old template" "$out $(cat "$tmp/fork.err"); rc $rc: $bout; $(tail -n 2 "$run/vm/$id/vmm.log" 2>&1)"
    fi
    "$ctl" -c "$dcfg" vm kill "$id" >/dev/null 2>&1
else
    t_fail "old template" "build '$old' or old_state failed"
fi
