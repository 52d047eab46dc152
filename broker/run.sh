#!/usr/bin/env bash
# broker/run.sh - `make run`: a demo burrowd on port $RUN_PORT in the foreground.
set -euo pipefail
B=${B:-build} PORT=${RUN_PORT:-2222} RUN=${RUN_DIR:-/run/burrow-demo}
[ "$(id -u)" = 0 ] || { echo "make run: burrowd needs root (namespaces, loop devices, privilege drops); try: sudo make run" >&2; exit 1; }
top=$(pwd)
cfg=$top/$B/demo/burrow.ini state=$top/$B/demo/state
mkdir -p "$B/demo" "$state/sandbox" "$RUN"
chmod 0755 "$RUN"
# The guest image: the full one if it was built (make guest-image), else the
# kernel-less sandbox image (same userland).
img=$B/guest/initramfs.cpio.gz
[ -f "$img" ] || img=$SANDBOX_IMAGE
cp "$img" "$state/sandbox/initramfs.cpio.gz.tmp" && mv "$state/sandbox/initramfs.cpio.gz.tmp" "$state/sandbox/initramfs.cpio.gz"
# backend = auto picks kvm where hardware virtualization is real; it needs an
# active template (state/templates/default). Without one, the sandbox.
backend=auto
[ -e "$state/templates/default" ] || backend=sandbox
cat > "$cfg" <<INI
; written by make run
[ssh]
listen = 0.0.0.0 ::
port = $PORT
[vm]
backend = $backend
idle_timeout = 10m
[paths]
state_dir = $state
run_dir = $RUN
INI
[ -f "$B/demo/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "burrow-demo" -f "$B/demo/id_ed25519"
if ! "$B/bin/burrowctl" -c "$cfg" user show demo >/dev/null 2>&1; then
    "$B/bin/burrowctl" -c "$cfg" user add demo --key-file "$B/demo/id_ed25519.pub" --disk-size 256M
fi
# So that a plain `ssh -p PORT demo@localhost` works too, also authorize the
# invoking user's own public keys (the sudo caller's, if run through sudo).
caller=${SUDO_USER:-$(id -un)}
home=$(getent passwd "$caller" | cut -d: -f6)
if [ -n "$home" ] && [ -z "$(ls "$home"/.ssh/id_*.pub 2>/dev/null)" ]; then
    # No key at all: make the standard default one (never overwrites anything).
    echo "make run: $caller has no SSH key; creating $home/.ssh/id_ed25519"
    install -d -m 0700 -o "$caller" "$home/.ssh"
    ssh-keygen -q -t ed25519 -N '' -C "$caller@burrow-demo" -f "$home/.ssh/id_ed25519"
    chown "$caller" "$home/.ssh/id_ed25519" "$home/.ssh/id_ed25519.pub"
fi
for pub in "$home"/.ssh/id_*.pub; do
    [ -f "$pub" ] || continue
    fp=$(ssh-keygen -lf "$pub" | awk '{print $2}')
    "$B/bin/burrowctl" -c "$cfg" user key list demo 2>/dev/null | grep -qF "$fp" ||
        "$B/bin/burrowctl" -c "$cfg" user key add demo "$pub" || true
done
cat <<MSG

  burrowd is starting on port $PORT (Ctrl-C stops it; environments keep running
  until idle). In another terminal:

      ssh -p $PORT -i $B/demo/id_ed25519 demo@localhost
MSG
[ -n "$(ls "$home"/.ssh/id_*.pub 2>/dev/null)" ] && cat <<MSG
  (your own keys in $home/.ssh are authorized too: ssh -p $PORT demo@localhost)

MSG
exec "$B/bin/burrowd" -c "$cfg"
