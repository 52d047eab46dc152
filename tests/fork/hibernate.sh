# tests/fork/hibernate.sh - sourced by tests/fork/run-tests (its helpers, config
# and user alice with a home disk): hibernation of a test-guest fork through
# burrowctl without burrowd (vmm/hibernate.h, docs/hibernate.md). A fork
# writes a pattern to half of the test pages (tests/testguest/abi.h), is
# hibernated (`vm hibernate`), sits on disk for 2 s and is resumed (`vm fork
# --user alice`): the pattern is intact, the pages it never wrote still read
# the template's values, its kvmclock continued from the moment it was saved
# (not +2 s) and its timer, YMM state and wall clock are right; then nothing
# is left behind (registry entry, disk lock, hibernate lock, temporaries).
vmexec() { timeout 20 "$B/tests/nested/vm-exec" "$run/vm/$1/vsock.sock" alice "$2" 2>&1; }
hibdir=$tmp/state/users/alice/hibernate
out=$(c vm fork --user alice 2>&1)
hid=$(echo "$out" | cut -d' ' -f1)
wait_console "$hid" "ready at" >/dev/null
out=$(vmexec "$hid" "mem check template")
w=$(vmexec "$hid" "mem write 11")
[ "$out" = "mem ok pattern=32 template=32" ] && [ "$w" = "mem ok pattern=32 template=0" ] &&
    t_ok "hibernate: fork $hid reads the template's 64 test pages, then writes a pattern to 32 of them" ||
    t_fail "hibernate: mem write" "$out / $w"
if hout=$(c vm hibernate "$hid" 2>&1); then
    t_ok "vm hibernate $hid: $hout"
else
    t_fail "vm hibernate" "$hout"
fi
row=$(c vm list | awk '$2 == "alice" && $4 == "hibernated"')
[ -f "$hibdir/image" ] && [ -n "$row" ] && [ "$(echo "$row" | awk '{print $1}')" = "$hid" ] &&
    [ ! -d "$run/vm/$hid" ] && [ "$(echo "$row" | awk '{print $NF}')" -gt 0 ] &&
    t_ok "its VMM ended and left no record; vm list shows it hibernated ($(echo "$row" | awk '{print $NF}') KiB on disk)" ||
    t_fail "hibernated VM listed" "$row $(ls "$run/vm")"
out=$(c user disk resize alice 300M 2>&1) && t_fail "resize while hibernated" "allowed" ||
    t_ok "her disk stays reserved: $out"
sleep 2
t1=$(date +%s)
out=$(c vm fork --user alice 2>&1)
rid=$(echo "$out" | cut -d' ' -f1)
echo "$out" | grep -q "(resume)" && wait_console "$rid" "resume ok" &&
    t_ok "vm fork --user alice resumes her VM: $out" ||
    t_fail "resume" "$out $(console "$rid" | tail -3)"
out=$(vmexec "$rid" "mem check 11")
[ "$out" = "mem ok pattern=32 template=32" ] &&
    t_ok "after the resume the pattern is intact and the 32 pages it never wrote still read the template's values" ||
    t_fail "memory after the resume" "$out"
# The guest noted its kvmclock when it answered HIBERNATE (that memory is in the image).
line=$(console "$rid" | grep "testguest: resume time=" | tail -n 1)
since=$(echo "$line" | sed -n 's/.* since_hibernate=\([0-9]*\) us.*/\1/p')
slept=$(echo "$line" | sed -n 's/.* slept_ms=\([0-9]*\).*/\1/p')
gtime=$(echo "$line" | sed -n 's/.*resume time=\([0-9]*\).*/\1/p')
if [ -n "$since" ] && [ -n "$slept" ] && [ "$since" -lt 1000000 ] && [ "$slept" -ge 2000 ] &&
    [ "${gtime:-0}" -ge $((t1 - 2)) ] && [ "${gtime:-0}" -le $(($(date +%s) + 2)) ] &&
    console "$rid" | grep -q "resume ok ticks=[0-9]* kvmclock=monotonic ymm=kept"; then
    t_ok "its clock continued: kvmclock +$since us from HIBERNATE to READY across $slept ms on disk; timer ticks, YMM kept; RESUME set the wall clock ($gtime)"
else
    t_fail "clock after the resume" "since=$since slept=$slept time=$gtime now=$t1: $line"
fi
ent_id=$(console "$hid" | sed -n 's/.*identity.* entropy=\([0-9a-f]*\).*/\1/p' | tail -n 1)
ent_rs=$(echo "$line" | sed -n 's/.* entropy=\([0-9a-f]*\).*/\1/p')
[ -n "$ent_rs" ] && [ "$ent_rs" != "$ent_id" ] && ! console "$rid" | grep -q "testguest: identity" &&
    t_ok "RESUME brought fresh entropy and no IDENTITY (the running system is not re-forked)" ||
    t_fail "resume, not identity" "entropy $ent_id / $ent_rs"
[ ! -e "$hibdir/image" ] && t_ok "the image was consumed by the resume" || t_fail "image consumed" "$(ls "$hibdir")"
c vm kill "$rid" >/dev/null
c vm list >/dev/null # drops the records of VMMs that ended (a jailed VMM cannot remove its own)
left=$(grep -l "^user = alice" "$run"/vm/*/meta 2>/dev/null | wc -l)
tmps=$(find "$hibdir" -name '*.tmp*' | wc -l)
# Her disk's OFD lock conflicts with a POSIX lock: taking one shows nobody holds it.
disk_free() {
    python3 -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1], "r+b"), fcntl.LOCK_EX | fcntl.LOCK_NB)' \
        "$tmp/state/users/alice/home.img" 2>&1
}
if [ "$left" = 0 ] && [ "$tmps" = 0 ] && flock -n "$hibdir/lock" true && out=$(disk_free); then
    t_ok "no registry or lock leak: no record of hers, no temporary, the hibernate lock and her disk lock free"
else
    t_fail "leaks after hibernate/resume" "records $left, temporaries $tmps, $out"
fi
# A hibernated VM keeps its build: gc and rm leave it while the image needs it.
out=$(c vm fork --user alice 2>&1)
hid=$(echo "$out" | cut -d' ' -f1)
wait_console "$hid" "ready at" >/dev/null
hbuild=$(sed -n 's/^build = //p' "$run/vm/$hid/meta")
c vm hibernate "$hid" >/dev/null 2>&1
nb=$(c template build --name tg --kernel "$tg" --cmdline testguest.mode=agent --mem 64 --vcpus 2 2>/dev/null)
out=$(c template rm "$hbuild" 2>&1)
c template gc >/dev/null
[ -d "$tdir/$hbuild" ] && echo "$out" | grep -q "hibernated" &&
    t_ok "template rm and gc keep $hbuild, which her hibernated VM uses: $out" ||
    t_fail "template gc keeps a hibernated VM's build" "$out $(ls "$tdir")"
out=$(c vm fork --user alice 2>&1)
rid=$(echo "$out" | cut -d' ' -f1)
echo "$out" | grep -q "(resume)" && [ "$(sed -n 's/^build = //p' "$run/vm/$rid/meta")" = "$hbuild" ] &&
    t_ok "it resumes on its own build $hbuild although $nb is active now" ||
    t_fail "resume on the old build" "$out"
c vm kill "$rid" >/dev/null
c template activate "$build3" >/dev/null
