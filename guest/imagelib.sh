# guest/imagelib.sh - shared by the image builders (guest/mkimage.sh, the
# default initramfs; broker/vm/mkrootfs-sandbox.sh, its kernel-less twin): the
# OpenSSH programs a user's environment carries, from the host's Debian
# packages, with the shared libraries they need.
#
#   sftp-server  the sftp subsystem
#   scp          legacy `scp -O` (the SCP protocol of OpenSSH before 9.0,
#                WinSCP, scripts) runs `scp -t` / `scp -f` on the server
#   ssh, ssh-add onward connections and the forwarded agent (ssh -A)
IMAGE_OPENSSH_BINS="/usr/lib/openssh/sftp-server /usr/bin/scp /usr/bin/ssh /usr/bin/ssh-add"

# image_install_dynamic STAGE BIN...: each binary at its own path under STAGE,
# and every shared library ldd names (glibc's loader included) at its path.
image_install_dynamic() {
    local stage=$1 bin lib; shift
    for bin in "$@"; do
        [ -x "$bin" ] || { echo "image: $bin missing (install openssh-client and openssh-sftp-server)" >&2; return 1; }
        mkdir -p "$stage$(dirname "$bin")"
        install -m 0755 "$bin" "$stage$bin"
        for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
            [ -e "$stage$lib" ] && continue
            mkdir -p "$stage$(dirname "$lib")"
            install -m 0755 "$(readlink -f "$lib")" "$stage$lib"
        done
    done
}
