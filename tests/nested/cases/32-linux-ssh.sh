#!/usr/bin/env bash
# timeout: 240
# The real path: the OpenSSH client in L1 -> burrowd (backend = kvm,
# template "linux" from case 30) -> a forked Linux VM. The first login forks
# her VM: `echo $((6*7))` prints 42; exit codes come back; scp and sftp round
# trips of a 256 KiB file; a file in ~ survives logout (same VM), an idle reap
# (SHUTDOWN: sync + unmount, then a new VM at the next login) and a VMM killed
# with SIGKILL (noticed, next login gets a fresh VM, fsynced data present);
# after the last stop the home image passes e2fsck -fn.
. "$NESTED_REPO/tests/nested/caselib.sh"
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -L "$LX/state/templates/linux" ] || fail "no template from case 30 (30-linux-template failed?)"
command -v ssh >/dev/null && command -v sftp >/dev/null || fail "the OpenSSH client is not installed"
trap lx_burrowd_stop EXIT
lx_burrowd_start
lx_user_key sam
lx_ssh_opts sam
log=$LX_BLOG bpid=$LX_BPID
s() { timeout 60 ssh "${SSHO[@]}" sam@127.0.0.1 "$@"; }
vmid() { sed -n 's/^id = //p' "$(lx_vm_dir sam)/meta" 2>/dev/null; }
fails=""
t0=$(now)
out=$(s 'echo $((6*7))' 2>&1); rc=$?
echo "first login (forks the VM): $(ms_since "$t0") ms: rc $rc: $out"
[ $rc = 0 ] && [ "$out" = 42 ] || fail "ssh sam@host 'echo \$((6*7))': rc $rc: $out; $(tail -n 5 "$log")"
id1=$(vmid)
[ -n "$id1" ] || fails+=" no-vm-record"
# ... claimed from burrowd's warm pool (linuxlib: pool_size 1, filled before the login)
grep -q "^origin = pool" "$LX_RUN/vm/$id1/meta" || fails+=" first-vm-not-pooled($(grep origin "$LX_RUN/vm/$id1/meta"))"
t0=$(now); out=$(s 'hostname; id -un; awk "\$2 == \"$HOME\" {print \$1}" /proc/mounts' 2>&1)
echo "second login (same VM): $(ms_since "$t0") ms:" $out
[ "$(echo $out)" = "burrow-sam sam /dev/vda" ] || fails+=" identity($(echo $out))"
s 'exit 3'; rc=$?
[ $rc = 3 ] || fails+=" exit-3->$rc"
s 'kill -9 $$'; rc=$?
[ $rc = 255 ] || [ $rc = 137 ] || fails+=" killed->$rc"
head -c 262144 /dev/urandom >data
timeout 60 scp -q "${SSHO[@]/-p/-P}" data sam@127.0.0.1:data.scp 2>err && timeout 60 scp -q "${SSHO[@]/-p/-P}" sam@127.0.0.1:data.scp data.back 2>>err &&
    cmp -s data data.back || fails+=" scp($(tail -n 1 err))"
printf 'put data data.sftp\nget data.sftp data.sftp-back\n' >batch
timeout 60 sftp -q "${SSHO[@]/-p/-P}" -b batch sam@127.0.0.1 >/dev/null 2>err && cmp -s data data.sftp-back ||
    fails+=" sftp($(tail -n 1 err))"
want=$(sha256sum <data | cut -d' ' -f1)
out=$(s 'echo kept-1 >~/note; sync; sha256sum data.scp data.sftp' 2>&1)
[ "$(echo "$out" | cut -d' ' -f1 | sort -u)" = "$want" ] || fails+=" checksums-in-guest($out)"
# logout and back: same VM, the file is there
[ "$(s 'cat ~/note')" = kept-1 ] && [ "$(vmid)" = "$id1" ] || fails+=" note-after-logout"
# idle reap: the agent syncs and unmounts, the VM ends; the next login forks a new one
lx_burrowd_cfg 2; kill -HUP "$bpid"
for _ in $(seq 150); do grep -q "vm $id1: stopped" "$log" && break; sleep 0.2; done
grep -q "vm $id1: stopped" "$log" || fails+=" idle-reap($(grep "$id1" "$log" | tail -n 2 | tr '\n' ' '))"
grep -q "vm $id1: agent synced and unmounted the home disk" "$log" || fails+=" no-shutdown-answer"
lx_burrowd_cfg 600; kill -HUP "$bpid"; sleep 0.5
t0=$(now); out=$(s 'cat ~/note; echo kept-2 >>~/note; sync' 2>&1)
echo "login after the idle reap (new VM): $(ms_since "$t0") ms: $out"
id2=$(vmid)
[ "$out" = kept-1 ] && [ -n "$id2" ] && [ "$id2" != "$id1" ] || fails+=" after-reap(id $id1->$id2: $out)"
# SIGKILL the VMM: noticed; the next login gets a fresh VM with the fsynced data
pid2=$(sed -n 's/^pid = //p' "$LX_RUN/vm/$id2/meta" 2>/dev/null)
[ -n "$pid2" ] && kill -KILL "$pid2"
for _ in $(seq 50); do grep -q "vm $id2: died unexpectedly" "$log" && break; sleep 0.2; done
grep -q "vm $id2: died unexpectedly" "$log" || fails+=" sigkill-not-noticed"
out=$(s 'cat ~/note' 2>&1 | tr '\n' ' '); id3=$(vmid)
[ "$out" = "kept-1 kept-2 " ] && [ -n "$id3" ] && [ "$id3" != "$id2" ] || fails+=" after-sigkill(id $id2->$id3: $out)"
# Stop it through burrowd (SHUTDOWN: sync, unmount), then the image is clean.
"$ctl" -c "$LX_BCFG" vm kill "$id3" >/dev/null 2>err || fails+=" vm-kill($(cat err))"
for _ in $(seq 50); do grep -q "vm $id3: stopped" "$log" && break; sleep 0.2; done
img=$LX/state/users/sam/home.img
e2fsck -fn "$img" >fsck.log 2>&1 || fails+=" e2fsck($(tail -n 2 fsck.log | tr '\n' ' '))"
[ -z "$fails" ] || { lx_all_fork_logs; tail -n 15 "$log"; fail "checks failed:$fails"; }
echo "ssh/scp/sftp through burrowd's kvm backend into forked Linux VMs; home disk survives reap and SIGKILL"
