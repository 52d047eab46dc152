#!/usr/bin/env bash
# timeout: 600
# Hibernation of real Linux forks (docs/hibernate.md).
# A. Through burrowd and the OpenSSH client on case 30's template "linux"
#    (busybox, whose Debian busybox-static has no nohup applet: the job is
#    started with its input and output detached instead, which is what
#    nohup is for): `ssh hib@host 'sleep 100000 </dev/null >/dev/null 2>&1
#    & echo $!'` and a file written to her home disk; with a short [vm] idle_hibernate the VM is
#    saved to disk; the next `ssh hib@host '[ "$(cat /proc/PID/comm)" = sleep ] && cat ~/file'`
#    resumes it: the process is alive, the file intact, the hostname
#    (burrow-hib) and user untouched (no fork identity re-run), the wall
#    clock within 2 s of L1's around the session. Three
#    hibernate/resume cycles are timed against fresh forks (and case 30's
#    cold boot). After the last logout (vm kill: sync, unmount) the home
#    image passes e2fsck -fn. A corrupted image: the next login gets a fresh
#    VM, the image is kept aside with its reason and burrowd's log says why.
# B. On case 33's Debian template (when it ran and its image has tmux):
#    a fork with `nohup sleep 100000 &` (coreutils' nohup) and a tmux session
#    is hibernated and resumed through burrowctl; the sleep is alive, the
#    session is still there and `tmux attach` (in a pty) shows its pane.
# Prints "linux-hibernate:" lines: hibernate time, image size against the
# fork's private memory, resume->READY p50 against fresh fork->READY p50.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
command -v ssh >/dev/null || fail "the OpenSSH client is not installed"
trap lx_burrowd_stop EXIT
LX_POOL=0 # resumes and fresh forks are compared as they are, not through the pool
lx_burrowd_start
lx_user_key hib
lx_ssh_opts hib
log=$LX_BLOG bpid=$LX_BPID
B="$ctl -c $LX_BCFG"
s() { timeout 90 ssh "${SSHO[@]}" hib@127.0.0.1 "$@"; }
vmid() { sed -n 's/^id = //p' "$(lx_vm_dir hib)/meta" 2>/dev/null; }
vmjson() { # ID FIELD
    $B vm list --json | python3 -c 'import json,sys
for v in json.load(sys.stdin):
    if v["id"] == sys.argv[1]: print(v[sys.argv[2]])' "$1" "$2"
}
# wait_saved ID: up to 240 s for burrowd to log that ID was hibernated.
wait_saved() {
    for _ in $(seq 1200); do grep -q "vm $1: hibernated (user hib" "$log" && return 0; sleep 0.2; done
    return 1
}
img=$LX/state/users/hib/hibernate/image
fails="" resumes="" freshes="" hibs=""
out=$(s 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $!; echo data-1 >~/file; sync' 2>&1)
pid=$(echo "$out" | head -n 1)
id=$(vmid)
[ -n "$id" ] && [ "$pid" -gt 1 ] 2>/dev/null || fail "first login: $out; $(tail -n 5 "$log")"
echo "first login: VM $id, sleep pid $pid"
for cycle in 1 2 3; do
    sleep 3 # idle after the session, with the shell's children settled
    anon=$(vmjson "$id" anon_kib)
    lx_burrowd_cfg 600 2; kill -HUP "$bpid"
    wait_saved "$id" || { lx_all_fork_logs; fail "cycle $cycle: $id not hibernated: $(grep "$id" "$log" | tail -n 3)"; }
    lx_burrowd_cfg 600 0; kill -HUP "$bpid"
    saved=$(sed -n "s/.*vm $id: hibernated: \([0-9]*\) pages, \([0-9]*\) bytes in \([0-9]*\) ms.*/\1 \2 \3/p" "$log")
    read -r pages bytes save_ms <<<"$saved"
    kib=$(du -k "$img" | cut -f1)
    hibs+="$save_ms "
    echo "linux-hibernate: cycle $cycle: saved $pages pages, $((bytes / 1024)) KiB ($kib KiB on disk) in $save_ms ms; the fork's private (anonymous) memory before: $anon KiB; image/private $(awk -v a="$kib" -v b="$anon" 'BEGIN { printf "%.2f", a / (b ? b : 1) }')"
    [ "$(grep -c "vm $id: hibernating (idle)" "$log")" = 1 ] || fails+=" cycle$cycle:no-idle-hibernation"
    t0=$(now) t0s=$(date +%s)
    out=$(s "[ \"\$(cat /proc/$pid/comm)\" = sleep ] && cat ~/file && hostname && id -un && date +%s" 2>&1); rc=$?
    ms=$(ms_since "$t0") t1s=$(date +%s)
    nid=$(vmid)
    mapfile -t l <<<"$out"
    origin=$(vmjson "$nid" origin) ready=$(vmjson "$nid" ready_ms)
    echo "linux-hibernate: cycle $cycle: login resumed $nid ($origin) in $ms ms: READY $ready ms after the request: $(echo $out)"
    [ $rc = 0 ] && [ "${l[0]}" = data-1 ] && [ "${l[1]}" = burrow-hib ] && [ "${l[2]}" = hib ] &&
        [ "$origin" = resume ] || fails+=" cycle$cycle:resume(rc $rc origin $origin: $(echo $out))"
    # The wall clock RESUME set: inside [t0 - 2 s, t1 + 2 s] of L1's around the session.
    awk -v g="${l[3]}" -v a="$t0s" -v b="$t1s" 'BEGIN { exit !(g ~ /^[0-9]+$/ && g + 1 >= a - 2 && g <= b + 2) }' ||
        fails+=" cycle$cycle:clock(${l[3]} vs L1 $t0s..$t1s)"
    resumes+="$ready "
    id=$nid
done
# Fresh forks of the same user for comparison: vm kill (SHUTDOWN: sync, unmount), next login.
for i in 1 2 3; do
    $B vm kill "$id" >/dev/null 2>&1
    for _ in $(seq 100); do grep -q "vm $id: stopped" "$log" && break; sleep 0.2; done
    out=$(s 'cat ~/file' 2>&1); id=$(vmid)
    [ "$out" = data-1 ] && [ "$(vmjson "$id" origin)" = fresh ] || fails+=" fresh$i($out)"
    freshes+="$(vmjson "$id" ready_ms) "
done
p50() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
cold=$(cat "$LX/cold-ready-ms" 2>/dev/null || echo "?")
echo "linux-hibernate: hibernate p50 $(echo $hibs | p50) ms; resume->READY p50 $(echo $resumes | p50) ms; fresh fork->READY p50 $(echo $freshes | p50) ms; cold boot->READY (case 30) $cold ms"
# The last logout: vm kill syncs and unmounts; the filesystem is clean.
$B vm kill "$id" >/dev/null 2>&1
for _ in $(seq 100); do grep -q "vm $id: stopped" "$log" && break; sleep 0.2; done
e2fsck -fn "$LX/state/users/hib/home.img" >fsck.log 2>&1 || fails+=" e2fsck($(tail -n 2 fsck.log | tr '\n' ' '))"
# A corrupted image: kept aside with its reason; the login gets a fresh VM.
out=$(s 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $!' 2>&1); pid=$(echo "$out" | head -n 1); id=$(vmid)
$B vm hibernate "$id" >hib.out 2>&1 || fails+=" vm-hibernate($(cat hib.out))"
size=$(stat -c %s "$img" 2>/dev/null || echo 0)
[ "$size" -gt 8192 ] && printf 'X' | dd of="$img" bs=1 seek=$((size - 4096)) conv=notrunc status=none
# Forks of one template replay the same pid sequence, so a bare `kill -0 PID`
# can hit an unrelated process of the fresh VM: only a live `sleep` under
# that pid counts, and burrowd's own record of the VM's origin decides.
out=$(s "[ \"\$(cat /proc/$pid/comm 2>/dev/null)\" = sleep ] && echo alive || echo fresh; cat ~/file" 2>&1 | tr '\n' ' ')
origin=$(vmjson "$(vmid)" origin)
kept=$(ls "$LX"/state/users/hib/hibernate/refused-*.img 2>/dev/null | head -n 1)
echo "corrupt image: login says: $out; origin: $origin; kept: ${kept##*/}; log: $(grep -o 'hibernated image refused: .*' "$log" | tail -n 1)"
[ "$out" = "fresh data-1 " ] && [ "$origin" = fresh ] && [ -n "$kept" ] && grep -q "checksum" "${kept%.img}.why" &&
    grep -q "hibernated image refused: .*checksum mismatch" "$log" || fails+=" corrupt-image($out, origin $origin)"
$B vm kill "$(vmid)" >/dev/null 2>&1

# B. tmux on the Debian template of case 33, if it ran and its image has tmux.
DEB=/tmp/burrow-debian
if [ -L "$DEB/state/templates/debian" ] && debugfs -R "stat /usr/bin/tmux" \
    "$(readlink -f "$DEB/state/templates/debian")/rootfs.img" 2>/dev/null | grep -q Inode; then
    D="$ctl -c $DEB/burrow.ini"
    $D vm discard tmx >/dev/null 2>&1
    $D user del tmx >/dev/null 2>&1
    $D user add tmx --disk-size 16M >/dev/null 2>&1 || fails+=" tmux:user-add"
    out=$($D vm fork --user tmx 2>&1) || fails+=" tmux:fork($out)"
    d=$(grep -l "^user = tmx\$" "$DEB"/run/vm/*/meta 2>/dev/null | head -n 1 | xargs -r dirname)
    tid=${d##*/}
    tpid=$("$vm_exec" "$d/vsock.sock" tmx 'nohup sleep 100000 >/dev/null 2>&1 & echo $!
        tmux new-session -d -s work "echo pane-started; exec sleep 100000"; sleep 1' 2>&1 | head -n 1)
    sleep 3
    anon=$($D vm list --json | python3 -c 'import json,sys
print(next((v["anon_kib"] for v in json.load(sys.stdin) if v["user"] == "tmx"), 0))')
    hout=$($D vm hibernate "$tid" 2>&1) || fails+=" tmux:hibernate($hout)"
    kib=$(du -k "$DEB/state/users/tmx/hibernate/image" 2>/dev/null | cut -f1)
    echo "linux-hibernate: Debian fork with tmux and a shell: $hout; private (anonymous) memory before $anon KiB; image/private $(awk -v a="${kib:-0}" -v b="$anon" 'BEGIN { printf "%.2f", a / (b ? b : 1) }')"
    out=$($D vm fork --user tmx 2>&1)
    echo "linux-hibernate: Debian resume: $out"
    d=$(grep -l "^user = tmx\$" "$DEB"/run/vm/*/meta 2>/dev/null | head -n 1 | xargs -r dirname)
    att=$("$vm_exec" "$d/vsock.sock" tmx "kill -0 $tpid && echo sleep-alive; tmux has-session -t work && echo has-session" 2>&1 | tr '\n' ' ')
    "$vm_exec" -t "$d/vsock.sock" tmx 'timeout 3 tmux attach -t work' >attach.out 2>&1
    grep -q pane-started attach.out && att+="attach-shows-pane"
    echo "linux-hibernate: after the resume: $att"
    echo "$out" | grep -q "(resume)" && [ "$att" = "sleep-alive has-session attach-shows-pane" ] ||
        fails+=" tmux($out / $att / $(tr -cd '[:print:]' <attach.out | tail -c 200))"
    $D vm kill "${d##*/}" >/dev/null 2>&1
else
    echo "linux-hibernate: part B not run: no Debian template with tmux from case 33 in this L1"
fi
[ -z "$fails" ] || { lx_all_fork_logs; tail -n 20 "$log"; fail "checks failed:$fails"; }
echo "hibernate/resume of Linux forks through burrowd: processes, files, clock kept; corrupt image kept aside"
