#!/usr/bin/env bash
# tests/e2e/hibernate.sh B - the e2e tier's hibernation group (e2e-hibernate):
# burrowd with `backend = kvm`, a test-guest template and `[vm]
# idle_hibernate` (docs/hibernate.md), driven by the real OpenSSH client.
# The test guest's `mem write SEED` / `mem check SEED` built-ins write and
# check a pattern in guest memory (tests/testguest/abi.h). Checks: an idle VM
# is hibernated (agent synced first, audit and metrics say so, vm list shows
# it with its size on disk), its image reserves her disk (resize and user del
# refused), survives a burrowd restart, and her next login resumes it with
# the pattern intact; `burrowctl vm hibernate` through burrowd tells her
# session; a corrupt image is refused, kept aside with its reason, and she
# gets a fresh fork; `vm discard` warns and drops it; `user del` removes
# what was kept aside; the sandbox backend says hibernation is kvm-only.
# Needs root and /dev/kvm. About 60 s.
set -u
B=${1:-build}
cd "$(dirname "$0")/../.."
. tests/lib/testlib.sh
. tests/e2e/lib.sh
t_begin e2e-hibernate "$B/test-results"

E2E_IMAGE=${E2E_IMAGE:-$B/sandbox/rootfs.cpio.gz}
if [ "$(id -u)" != 0 ]; then t_fail setup "the e2e tier needs root"; t_end; exit 1; fi
[ -w /dev/kvm ] || { t_fail setup "no usable /dev/kvm"; t_end; exit 1; }
[ -f "$B/tests/testguest" ] || { t_fail setup "no test guest $B/tests/testguest"; t_end; exit 1; }
[ -f "$E2E_IMAGE" ] || { t_fail setup "no sandbox image $E2E_IMAGE"; t_end; exit 1; }

MPORT=$(e2e_free_port)
# hib_config HIBERNATE [BACKEND]: kvm (or BACKEND), idle_hibernate HIBERNATE, audit and metrics on.
hib_config() {
    E2E_IDLE=600 e2e_config
    sed -i "s/^backend = sandbox/backend = ${2:-kvm}\ntemplate = tg\npool_size = 0\nidle_hibernate = $1/" "$T/burrow.ini"
    printf '[metrics]\nlisten = 127.0.0.1:%s\n[audit]\nfile = %s/audit.log\n' "$MPORT" "$T" >> "$T/burrow.ini"
}
e2e_setup
trap e2e_cleanup EXIT
hib_config 2
if ! build=$($BCTL template build --name tg --kernel "$B/tests/testguest" --cmdline testguest.mode=agent \
        --mem 64 --vcpus 2 2>"$T/build.err"); then
    t_fail "template build" "$(tail -3 "$T/build.err")"; t_end; exit 1
fi
$BCTL user add hib --key-file "$T/alice.pub" --disk-size 16M >/dev/null
if ! e2e_start; then t_fail start "burrowd did not start"; t_end; exit 1; fi

kssh() { timeout 30 ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/alice" "${U:-alice}@127.0.0.1" "$@"; }
running_id() { $BCTL vm list | awk -v u="$1" '$2 == u && $4 == "running" { print $1 }'; }
hib_row() { $BCTL vm list | awk -v u="$1" '$2 == u && $4 == "hibernated"'; }
metric() { curl -sf "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
audit_has() { grep -c "\"event\":\"$1\"" "$T/audit.log" 2>/dev/null; }
# wait_hibernated USER: up to 20 s for her VM to be on disk (listed, no process)
wait_hibernated() {
    for _ in $(seq 200); do [ -n "$(hib_row "$1")" ] && [ -z "$(running_id "$1")" ] && return 0; sleep 0.1; done
    return 1
}
img=$T/state/users/alice/hibernate/image

# --- an idle VM is hibernated ---
out=$(kssh mem write 7); id1=$(running_id alice)
[ "$out" = "mem ok pattern=32 template=0" ] && [ -n "$id1" ] && t_ok "her VM $id1 wrote a pattern to 32 of the 64 test pages" \
    || t_fail "mem write" "out=$out id=$id1"
if wait_hibernated alice; then
    row=$(hib_row alice)
    kib=$(echo "$row" | awk '{print $NF}')
    echo "    $row"
    [ "$(echo "$row" | awk '{print $1}')" = "$id1" ] && [ "$kib" -gt 0 ] && [ -f "$img" ] \
        && grep -q "vm $id1: hibernating (idle)" "$T/log" && grep -q "vm $id1: hibernated (user alice" "$T/log" \
        && t_ok "idle_hibernate 2: $id1 was saved to disk and its VMM ended; vm list shows it hibernated, $kib KiB on disk" \
        || t_fail "idle hibernation" "$row $(grep "$id1" "$T/log" | tail -3)"
else
    t_fail "idle hibernation" "$($BCTL vm list) $(grep "$id1" "$T/log" | tail -3)"
fi
[ "$(dd if="$T/state/users/alice/home.img" bs=512 skip=0 count=1 status=none | tr -d '\0')" = "burrow-testguest: synced at hibernate" ] \
    && t_ok "the agent synced her home disk before the VM was saved (the guest's mark is on the image)" \
    || t_fail "home disk synced at hibernate" "no mark in sector 0"
[ "$(metric 'burrow_vms{state="hibernated"}')" = 1 ] && [ "$(metric 'burrow_vm_hibernations_total{result="saved"}')" = 1 ] \
    && [ "$(metric 'burrow_vm_stops_total{reason="hibernate"}')" = 1 ] \
    && [ "$(audit_has vm_hibernating)" = 1 ] && [ "$(audit_has vm_hibernated)" = 1 ] \
    && grep -q '"event":"vm_hibernating".*"trigger":"idle"' "$T/audit.log" \
    && grep -q '"event":"vm_hibernated".*"pages":[1-9]' "$T/audit.log" \
    && t_ok "burrow_vms{state=\"hibernated\"} 1, hibernations_total{saved} 1; audit vm_hibernating (idle) and vm_hibernated (pages, bytes)" \
    || t_fail "hibernation metrics and audit" "$(curl -sf "http://127.0.0.1:$MPORT/metrics" | grep -E 'hibernat|state="hib' | tr '\n' ' ') $(grep hibernat "$T/audit.log")"
[ "$($BCTL status | awk '$1 == "vms_hibernated:" {print $2}')" = 1 ] && t_ok "status counts 1 hibernated VM" \
    || t_fail "status vms_hibernated" "$($BCTL status | grep hibern)"

# --- her disk is reserved ---
out=$($BCTL user disk resize alice 64M 2>&1) && t_fail "resize of a reserved disk" "allowed" \
    || { echo "$out" | grep -q "hibernated VM that reserves her home disk.*vm discard alice" \
    && t_ok "user disk resize refused while hibernated: $out" || t_fail "resize refused" "$out"; }
out=$($BCTL user del alice 2>&1) && t_fail "user del of a hibernated user" "allowed" \
    || { echo "$out" | grep -q "vm discard alice" && t_ok "user del refused while hibernated (names vm discard)" \
    || t_fail "user del refused" "$out"; }

# --- a master restart keeps the image (and from now on nothing hibernates by itself) ---
hib_config 0
e2e_stop; e2e_start || true
[ -f "$img" ] && [ -n "$(hib_row alice)" ] && [ "$(metric 'burrow_vms{state="hibernated"}')" = 1 ] \
    && t_ok "a restarted burrowd keeps the hibernated image (still listed and counted)" \
    || t_fail "restart keeps images" "$($BCTL vm list)"

# --- her next login resumes it: the pattern is there ---
out=$(kssh mem check 7); id2=$(running_id alice)
vmfield() { $BCTL vm list --json | python3 -c 'import json,sys
for v in json.load(sys.stdin):
    if v["id"] == sys.argv[1]: print(v[sys.argv[2]])' "$1" "$2"; }
[ "$out" = "mem ok pattern=32 template=32" ] && [ "$(vmfield "$id2" origin)" = resume ] && [ ! -e "$img" ] \
    && grep -q "testguest: resume ok" "$T/run/vm/$id2/console.log" \
    && t_ok "her next login resumed it ($id2, origin resume): the pattern and the template's pages intact, the image consumed" \
    || t_fail "resume at login" "out=$out id=$id2 origin=$(vmfield "$id2" origin) $(tail -3 "$T/run/vm/$id2/console.log" 2>/dev/null)"
[ "$(metric 'burrow_vm_resumes_total{result="resumed"}')" = 1 ] && [ "$(metric burrow_vm_resume_seconds_count)" = 1 ] \
    && [ "$(metric 'burrow_vms{state="hibernated"}')" = 0 ] && grep -q '"event":"vm_ready".*"origin":"resume"' "$T/audit.log" \
    && t_ok "resumes_total{resumed} 1, resume_seconds observed, hibernated gauge 0; audit vm_ready origin resume" \
    || t_fail "resume metrics" "$(curl -sf "http://127.0.0.1:$MPORT/metrics" | grep -E 'resum|state="hib' | tr '\n' ' ')"

# --- burrowctl vm hibernate through burrowd: her open session is told ---
rm -f "$T/fifo"; mkfifo "$T/fifo"
nlog=$(e2e_logins alice)
kssh cat < "$T/fifo" > /dev/null 2>"$T/hib.err" & catp=$!
exec 9> "$T/fifo"
e2e_wait_login alice $((nlog + 1))
hout=$($BCTL vm hibernate "$id2" 2>&1); hrc=$?
wait $catp; rc=$?
exec 9>&-
[ $hrc = 0 ] && echo "$hout" | grep -q "^hibernated $id2 (user alice)" && [ $rc = 255 ] \
    && grep -q "hibernated by an administrator" "$T/hib.err" && [ -f "$img" ] \
    && grep -q '"event":"admin".*"action":"vm.hibernate"' "$T/audit.log" \
    && grep -q '"event":"vm_hibernating".*"trigger":"admin"' "$T/audit.log" \
    && t_ok "vm hibernate through burrowd: $hout; her session was told (exit 255)" \
    || t_fail "vm hibernate via burrowd" "hrc=$hrc $hout rc=$rc $(cat "$T/hib.err")"
out=$(kssh mem check 7)
[ "$out" = "mem ok pattern=32 template=32" ] && t_ok "resumed a second time, pattern intact" || t_fail "second resume" "$out"

# --- a corrupt image: refused, kept aside with its reason, a fresh fork ---
U=hib
out=$(U=hib kssh mem write 9); idh=$(running_id hib)
hout=$($BCTL vm hibernate "$idh" 2>&1) || t_fail "hibernate hib" "$hout"
himg=$T/state/users/hib/hibernate/image
size=$(stat -c %s "$himg" 2>/dev/null || echo 0)
printf 'X' | dd of="$himg" bs=1 seek=$((size - 5000)) conv=notrunc status=none
out=$(U=hib kssh mem check template); idf=$(running_id hib)
kept=$(ls "$T"/state/users/hib/hibernate/refused-*.img 2>/dev/null | head -1)
[ "$out" = "mem ok pattern=32 template=32" ] && [ -n "$idf" ] && [ "$(vmfield "$idf" origin)" = fresh ] \
    && [ -n "$kept" ] && grep -q "checksum mismatch" "${kept%.img}.why" && [ ! -e "$himg" ] \
    && grep -q "hibernated image refused: .*checksum mismatch" "$T/log" \
    && grep -q '"event":"vm_resume_refused".*checksum' "$T/audit.log" \
    && [ "$(metric 'burrow_vm_resumes_total{result="refused"}')" = 1 ] \
    && t_ok "a corrupt image is refused (checksum), kept aside as $(basename "$kept") with its reason, and hib gets a fresh fork" \
    || t_fail "corrupt image" "out=$out origin=$(vmfield "$idf" origin) kept=$kept $(grep -i refused "$T/log" | tail -2)"
$BCTL vm kill "$idf" >/dev/null 2>&1
out=$($BCTL user del hib 2>&1) && [ ! -e "$T/state/users/hib" ] && t_ok "user del removes her directory with the image kept aside" \
    || t_fail "user del hib" "$out"
U=alice

# --- vm discard: a clear warning, the image gone, a fresh VM next ---
hout=$($BCTL vm hibernate "$(running_id alice)" 2>&1) || t_fail "hibernate for discard" "$hout"
dout=$($BCTL vm discard alice 2>&1); drc=$?
out=$(kssh mem check template)
[ $drc = 0 ] && echo "$dout" | grep -q "warning: discarding the hibernated VM of alice .*lost" && [ ! -e "$img" ] \
    && [ "$out" = "mem ok pattern=32 template=32" ] \
    && t_ok "vm discard warns that its processes are lost; the next login is a fresh fork" \
    || t_fail "vm discard" "drc=$drc $dout / $out"
out=$($BCTL vm discard alice 2>&1) && t_fail "discard without an image" "allowed" \
    || { echo "$out" | grep -q "has no hibernated VM" && t_ok "vm discard without an image: $out" || t_fail "discard none" "$out"; }
$BCTL vm kill "$(running_id alice)" >/dev/null 2>&1

# --- nothing left over: no VM, registry entry, disk lock or temporary file ---
for _ in $(seq 50); do [ -z "$(ls -d "$T"/run/vm/*/ 2>/dev/null)" ] && break; sleep 0.1; done
left=$(ls -d "$T"/run/vm/*/ 2>/dev/null | wc -l)
tmps=$(find "$T/state/users" -name '*.tmp*' | wc -l)
$BCTL user disk resize alice 96M >/dev/null 2>&1; lrc=$?
[ "$left" = 0 ] && [ "$tmps" = 0 ] && [ $lrc = 0 ] \
    && t_ok "afterwards: no registry entry, no temporary file, her disk free (resize works)" \
    || t_fail "leftovers" "run dirs $left, tmp files $tmps, resize rc $lrc"

# --- the sandbox backend: one warning; vm hibernate says kvm-only; a hibernated user is refused ---
out=$(kssh echo up); idk=$(running_id alice)
$BCTL vm hibernate "${idk:-none}" >/dev/null 2>&1
e2e_stop
hib_config 5 sandbox
mv "$T/log" "$T/log.kvm"
e2e_start || true
out=$(e2e_ssh bob bob echo in the sandbox); ids=$(running_id bob)
hout=$($BCTL vm hibernate "$ids" 2>&1); hrc=$?
[ "$(grep -c "idle_hibernate is ignored: hibernation is kvm-only (backend sandbox)" "$T/log")" = 1 ] \
    && [ $hrc = 1 ] && echo "$hout" | grep -q "kvm-only" \
    && t_ok "sandbox backend: one warning that idle_hibernate is kvm-only; vm hibernate refused: $hout" \
    || t_fail "sandbox and hibernation" "hrc=$hrc $hout $(grep -i hibernat "$T/log")"
out=$(kssh echo hi 2>&1); rc=$?
[ $rc = 255 ] && echo "$out" | grep -q "hibernated" && [ -f "$img" ] \
    && t_ok "sandbox: alice, hibernated under kvm, is refused with a clear message (her image and disk untouched)" \
    || t_fail "sandbox with a hibernated user" "rc=$rc $out"
$BCTL vm discard alice >/dev/null 2>&1
crashes=$(grep -c "crashed" "$T/log")
[ "$crashes" = 0 ] && t_ok "no session process crashed" || t_fail "session crashes" "$(grep crashed "$T/log" | head -3)"
t_end
