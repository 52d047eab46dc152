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
cat <<MSG

  burrowd is starting on port $PORT (Ctrl-C stops it; environments keep running
  until idle). In another terminal:

      ssh -p $PORT -i $B/demo/id_ed25519 demo@localhost

MSG
exec "$B/bin/burrowd" -c "$cfg"
