#!/usr/bin/env bash
# timeout: 480
# A Debian root filesystem template: `burrowctl template build
# --rootfs debian` with the image made on the host before the L1 boot
# (BURROW_ROOTFS_IMAGE=build/rootfs/debian.img, make debian-rootfs: L1 has
# no time for debootstrap), the default kernel and initramfs, 128 MiB. Linux
# boots, burrow-init mounts the read-only root disk (vdb) under a tmpfs
# overlay and switches root; the agent from the Debian root reports READY;
# the template is snapshotted with rootfs.img (read-only, checksummed). Two
# users' forks then show, through exec sessions: root is the overlay, Debian
# 12, login shell /bin/bash (default-shell for /bin/sh users), the home disk
# on /dev/vda with Debian's /etc/skel in it, the tools (nano, less, ps, ip,
# sftp-server, the en_US.UTF-8 locale), and per-fork writes in the overlay
# that the other fork does not see. Prints the build and fork->READY times.
. "$NESTED_REPO/tests/nested/caselib.sh"
NESTED_LINUX_STATE=/tmp/burrow-debian
. "$NESTED_REPO/tests/nested/linuxlib.sh"
[ -x "$ctl" ] && [ -x "$vm_exec" ] || fail "burrowctl or vm-exec not built"
kernel=$(readlink -f "$NESTED_BUILD/guest/kernel/vmlinuz") || fail "no guest kernel: make guest-image"
initrd=$NESTED_BUILD/guest/initramfs.cpio.gz
img=$NESTED_BUILD/rootfs/debian.img
[ -f "$kernel" ] && [ -f "$initrd" ] || fail "no guest kernel or image: make guest-image"
[ -f "$img" ] || fail "no $img: make debian-rootfs (a prerequisite of make test-nested)"
# The image's agent must be the initramfs's (the make rule rebuilds it when the image changes).
debugfs -R "dump /usr/sbin/burrow-agent agent.img" "$img" >/dev/null 2>&1
cmp -s agent.img "$NESTED_BUILD/guest/burrow-agent" ||
    fail "$img carries another burrow-agent than build/guest: rebuild it (make debian-rootfs)"
rm -rf "$LX"
mkdir -p "$LX/state" "$LX_RUN"
printf '[vm]\ntemplate = debian\npool_size = 0\nksm = no\n[paths]\nstate_dir = %s/state\nrun_dir = %s\n' \
    "$LX" "$LX_RUN" >"$LX_CFG"
trap lx_kill_vms EXIT
BURROW_ROOTFS_IMAGE=$img lx_build_template 180 --name debian --kernel "$kernel" --initrd "$initrd" \
    --cmdline 'console=ttyS0 panic=-1 quiet' --mem "$LX_MEM" --vcpus 2 --rootfs debian
expect_eq "template build exit status" "$(sed -n 's/^[0-9]* status //p' build.log)" 0
build=$(sed -n 's/^[0-9]* \(debian-[0-9T]*\)$/\1/p' build.log | tail -n 1)
[ -n "$build" ] || fail "template build printed no build name"
tdir=$LX/state/templates/$build
expect_eq "rootfs.img mode" "$(stat -c %a "$tdir/rootfs.img")" 444
grep -q '^rootfs = debian$' "$tdir/manifest" && grep -q 'burrow.root=/dev/vdb' "$tdir/manifest" ||
    fail "manifest: $(cat "$tdir/manifest")"
boot=$(sed -n 's/^\([0-9]*\) template: booting.*/\1/p' build.log)
paused=$(sed -n 's/^\([0-9]*\) template: pausing.*/\1/p' build.log)
echo "linux-debian: build $build in $(ms_since "$t0") ms; cold boot to READY $((paused - boot)) ms"

fails=""
for u in deb1 deb2; do
    lx_user_add "$u" --disk-size 16M
    out=$(c vm fork --user $u 2>&1) || fail "vm fork --user $u: $out"
    echo "fork $u: $out"
done
for u in deb1 deb2; do
    d=$(lx_vm_dir $u)
    [ -n "$d" ] || { fails+=" $u:no-vm"; continue; }
    out=$("$vm_exec" "$d/vsock.sock" $u 'id -un
        awk "\$2 == \"/\" {print \$1, \$3}" /proc/mounts
        cut -d. -f1 /etc/debian_version
        getent passwd $(id -un) | cut -d: -f7
        echo "bash ${BASH_VERSION%%.*}"
        awk "\$2 == \"$HOME\" {print \$1, \$3}" /proc/mounts
        ls -A ~ | sort | tr "\n" " "; echo
        head -n 1 ~/.profile
        for t in nano less ps ip locale; do command -v $t >/dev/null || echo -n "missing-$t "; done; echo tools
        test -x /usr/lib/openssh/sftp-server && echo sftp-server
        locale -a | grep -ci "^en_US.utf8$"
        echo "var-tmp: $(ls /var/tmp | tr "\n" " ")"
        echo "$(id -un)" >/var/tmp/mark-$(id -un) && echo wrote' 2>err.log)
    rc=$?
    echo "session $u (rc $rc):"
    echo "$out" | sed 's/^/    /'
    [ $rc = 0 ] || { fails+=" $u:exit-$rc($(tail -n 1 err.log))"; continue; }
    mapfile -t l <<<"$out"
    [ "${l[0]}" = $u ] || fails+=" $u:user=${l[0]}"
    [ "${l[1]}" = "overlay overlay" ] || fails+=" $u:root='${l[1]}'"
    [ "${l[2]}" = 12 ] || fails+=" $u:debian_version=${l[2]}"
    [ "${l[3]}" = /bin/bash ] || fails+=" $u:shell=${l[3]}"
    [ "${l[4]}" = "bash 5" ] || fails+=" $u:bash='${l[4]}'"
    [ "${l[5]}" = "/dev/vda ext4" ] || fails+=" $u:home='${l[5]}'"
    [[ ${l[6]} == *.bash_logout*.bashrc*.profile* ]] || fails+=" $u:skel='${l[6]}'"
    [[ ${l[7]} == "# ~/.profile: executed by the command interpreter"* ]] || fails+=" $u:profile='${l[7]}'"
    [ "${l[8]}" = tools ] || fails+=" $u:${l[8]}"
    [ "${l[9]}" = sftp-server ] || fails+=" $u:no-sftp-server"
    [ "${l[10]}" = 1 ] || fails+=" $u:locale=${l[10]}"
    # deb2 runs second: deb1's write to the overlay must not be visible to it
    [[ ${l[11]} != *mark-* ]] || fails+=" $u:sees-another-fork's-write='${l[11]}'"
    [ "${l[12]}" = wrote ] || fails+=" $u:overlay-unwritable='${l[12]}'"
done
[ -z "$fails" ] || fail "$fails"
echo "linux-debian: two forks of the Debian rootfs template OK"
