# tests/cluster/lib.sh - a Burrow cluster on one machine (docs/cluster.md):
# network namespaces on a bridge, a three-member etcd from Debian's
# etcd-server, nbdkit (file plugin + log filter: the write log) in a storage
# namespace, three burrowd hosts with the sandbox backend. Used by run.sh
# (the cluster tier) and bench.sh.
# etcd runs over TLS with client-certificate auth on both its client and its
# peer URLs (docs/cluster.md): c_pki makes a throwaway CA ($T/pki/ca.pem), a
# certificate per member (SAN: its IP), a client certificate for the burrow
# hosts and etcdctl, and a second CA with a client certificate of its own
# (what etcd must refuse).
# Needs: B (build dir), IMAGE (sandbox root image). Sets T, SSHO, HOSTS.
# C_BACKEND=kvm instead (nested case 40): the hosts fork template
# C_TEMPLATE of the state_dir C_STATE (its templates/ is shared), with a
# warm pool of C_POOL_<host> (default 0).

NET=10.99.23
HOSTS="h1 h2 h3"
ETCDS="e1 e2 e3"
TTL=${CLUSTER_TTL:-6}

c_ip() { # name -> address
    case $1 in h1) echo $NET.1 ;; h2) echo $NET.2 ;; h3) echo $NET.3 ;;
        e1) echo $NET.11 ;; e2) echo $NET.12 ;; e3) echo $NET.13 ;; st) echo $NET.20 ;; esac
}
c_ns() { echo "bc23$1"; }
c_in() { local n=$1; shift; ip netns exec "$(c_ns "$n")" "$@"; }

c_net_up() {
    ip link add bc23br type bridge && ip link set bc23br up
    ip addr add $NET.254/24 dev bc23br
    local n
    for n in $HOSTS $ETCDS st; do
        ip netns add "$(c_ns $n)"
        ip link add "bc23$n" type veth peer name eth0 netns "$(c_ns $n)"
        ip link set "bc23$n" master bc23br up
        c_in $n ip addr add "$(c_ip $n)/24" dev eth0
        c_in $n ip link set eth0 up
        c_in $n ip link set lo up
    done
}

c_net_down() {
    local n
    for n in $HOSTS $ETCDS st; do
        ip netns pids "$(c_ns $n)" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$(c_ns $n)" 2>/dev/null
        ip link del "bc23$n" 2>/dev/null
    done
    ip link del bc23br 2>/dev/null
    true
}

# c_cert CA NAME EXT: $T/pki/NAME.key and NAME.pem, signed by $T/pki/CA (P-256, one day).
c_cert() {
    local ca=$1 name=$2 ext=$3 d=$T/pki
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$name" 2>/dev/null &&
        printf '%b' "$ext" > "$d/$name.ext" &&
        openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
            -CAcreateserial -days 1 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
}

c_pki() {
    local d=$T/pki ca m
    mkdir -p "$d"
    for ca in ca otherca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
            -keyout "$d/$ca.key" -out "$d/$ca.pem" -subj "/CN=bc23 $ca" 2>/dev/null || return 1
    done
    # A member's certificate serves its clients and its peers, and is a client of its peers.
    for m in $ETCDS; do
        c_cert ca "$m" "subjectAltName=IP:$(c_ip "$m")\nextendedKeyUsage=serverAuth,clientAuth\n" ||
            return 1
    done
    c_cert ca client "extendedKeyUsage=clientAuth\n" || return 1
    c_cert otherca otherclient "extendedKeyUsage=clientAuth\n" || return 1
}

c_etcd_start() { # member
    local m=$1 ip cluster="" d=$T/pki
    ip=$(c_ip "$m")
    for x in $ETCDS; do cluster="$cluster${cluster:+,}$x=https://$(c_ip $x):2380"; done
    # 127.0.0.1 too: its certificate does not name it (host name verification is checked).
    c_in "$m" setsid etcd --name "$m" --data-dir "$T/$m" \
        --listen-client-urls "https://$ip:2379,https://127.0.0.1:2379" \
        --advertise-client-urls "https://$ip:2379" \
        --listen-peer-urls "https://$ip:2380" --initial-advertise-peer-urls "https://$ip:2380" \
        --cert-file "$d/$m.pem" --key-file "$d/$m.key" --trusted-ca-file "$d/ca.pem" \
        --client-cert-auth \
        --peer-cert-file "$d/$m.pem" --peer-key-file "$d/$m.key" \
        --peer-trusted-ca-file "$d/ca.pem" --peer-client-cert-auth \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bc23 \
        --heartbeat-interval 100 --election-timeout 1000 >> "$T/$m.log" 2>&1 &
}

c_etcd_endpoints() { local e="" x; for x in $ETCDS; do e="$e${e:+,}https://$(c_ip $x):2379"; done; echo "$e"; }
c_etcdctl() {
    ETCDCTL_API=3 etcdctl --endpoints "$(c_etcd_endpoints)" --dial-timeout 2s --command-timeout 3s \
        --cacert "$T/pki/ca.pem" --cert "$T/pki/client.pem" --key "$T/pki/client.key" "$@"
}
c_etcd_wait() {
    local i
    for i in $(seq 150); do c_etcdctl endpoint health >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

c_nbd_start() {
    mkdir -p "$T/exports"
    c_in st setsid nbdkit --foreground --ipaddr "$(c_ip st)" --port 10809 --filter=log \
        file dir="$T/exports" logfile="$T/nbd.log" >> "$T/nbdkit.log" 2>&1 &
}

c_config() { # host
    local h=$1 ep="" d=$T/pki
    for x in $ETCDS; do ep="$ep${ep:+ }https://$(c_ip $x):2379"; done
    mkdir -p "$T/$h/state/sandbox" "/run/bc23$h"
    chmod 0755 "/run/bc23$h"
    local vm="backend = sandbox" pool="C_POOL_$h"
    if [ "${C_BACKEND:-sandbox}" = kvm ]; then
        ln -sfn "$C_STATE/templates" "$T/$h/state/templates"
        vm=$(printf 'backend = kvm\ntemplate = %s\npool_size = %s\nksm = no' "$C_TEMPLATE" "${!pool:-0}")
    else
        cp "$IMAGE" "$T/$h/state/sandbox/initramfs.cpio.gz"
    fi
    cat > "$T/$h.ini" <<INI
[ssh]
listen = $(c_ip "$h")
port = 22
login_grace_time = 30
[vm]
$vm
idle_timeout = 600
max_vms = 8
memory_mb = 128
[paths]
state_dir = $T/$h/state
run_dir = /run/bc23$h
[cluster]
etcd = $ep
etcd_ca = $d/ca.pem
etcd_cert = $d/client.pem
etcd_key = $d/client.key
name = $h
peer_listen = $(c_ip "$h"):2200
lease_ttl = $TTL
home_nbd = nbd://$(c_ip st):10809
INI
}

c_start() { # host
    local h=$1 i
    c_in "$h" setsid "$B/bin/burrowd" -d -c "$T/$h.ini" >> "$T/$h.log" 2>&1 &
    for i in $(seq 300); do
        grep -q "cluster: host $h" "$T/$h.log" 2>/dev/null && grep -q "ready:" "$T/$h.log" && return 0
        sleep 0.1
    done
    echo "burrowd on $h did not start:"; tail -n 20 "$T/$h.log"
    return 1
}

# c_pids_of TEXT: processes whose command line holds TEXT. With a path under
# $T (unique to this run) it finds this run's processes only, never another's.
c_pids_of() {
    local f p
    for f in $(grep -laF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null); do
        p=${f#/proc/}
        p=${p%/cmdline}
        # Not this shell, nor grep itself (gone by now).
        [ "$p" != $$ ] && [ "$p" != "${BASHPID:-}" ] && [ -d "/proc/$p" ] && echo "$p"
    done
}

# c_kill_host HOST: SIGKILL everything of that host (burrowd, sessions, VMs, bridges).
# `ip netns pids` misses the session processes: each has its own network and
# pid namespaces (broker/session/), so they are found by the config path in
# their command line (burrowd --session-process ADDR LEVEL -c $T/HOST.ini).
# Left alone they outlive the "dead" host: a session's client connection is
# in the host's namespace, whose veth is down and later deleted, so nothing
# acks or resets what the session sends last (the end of her channel, when
# the VM died); it lingers until TCP gives up (tcp_retries2, ~15 minutes),
# unless the link came back before its next retransmission and the client's
# reset ended it, so it leaked now and then. The sandboxes die with their
# supervisors (PR_SET_PDEATHSIG).
c_kill_host() {
    { ip netns pids "$(c_ns "$1")"; c_pids_of "$T/$1.ini"; } | xargs -r kill -9 2>/dev/null
    true
}

# c_reap: SIGKILL whatever of this run is left (sessions, etcd, nbdkit: their
# command lines name $T) and wait until none is. What it found is in $T/reaped.
c_reap() {
    local i left p
    for i in $(seq 50); do
        left=$(c_pids_of "$T/")
        [ -z "$left" ] && return 0
        for p in $left; do
            echo "$p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
        done >> "$T/reaped" 2>/dev/null
        echo "$left" | xargs -r kill -9 2>/dev/null
        sleep 0.1
    done
    return 1
}

c_setup() {
    T=$(mktemp -d /tmp/bc23.XXXXXX)
    chmod 0755 "$T"
    c_net_down
    c_net_up
    c_pki || { echo "openssl could not make the tier's certificates"; return 1; }
    for m in $ETCDS; do c_etcd_start $m; done
    c_nbd_start
    c_etcd_wait || { echo "etcd did not come up"; tail "$T/e1.log"; return 1; }
    ssh-keygen -q -t ed25519 -N '' -C user -f "$T/key"
    for h in $HOSTS; do c_config $h; done
    SSHO=(-i "$T/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=10 -o KexAlgorithms=curve25519-sha256 -o ServerAliveInterval=1
          -o ServerAliveCountMax=3 -o BatchMode=yes)
}

c_teardown() {
    c_net_down
    [ -n "${T:-}" ] && c_reap
    for h in $HOSTS; do rm -rf "/run/bc23$h"; done
    [ -n "${T:-}" ] && [ -z "${KEEP:-}" ] && rm -rf "$T"
}

# c_ssh HOST CMD...: a session of alice (or $U) through HOST.
c_ssh() { local h=$1; shift; ssh "${SSHO[@]}" "${U:-alice}@$(c_ip "$h")" "$@"; }

# c_add USER: an NBD export for her, then `user add` on h1.
c_add() {
    truncate -s 64M "$T/exports/$1"
    "$B/bin/burrowctl" -c "$T/h1.ini" user add "$1" --key-file "$T/key.pub" --disk-size 64M
}

# c_owner USER: the host etcd names as the owner of her VM ("" if none).
c_owner() { c_etcdctl get --print-value-only "/burrow/users/$1/vm" 2>/dev/null; }

# c_sandboxes HOST USER: how many live VMs of hers HOST runs (registry records of
# the C_BACKEND backend, sandbox by default).
c_sandboxes() {
    local d pid n=0
    for d in /run/bc23$1/vm/*/; do
        [ -f "$d/burrowd" ] || continue
        # A record may go between the test and the reads (its VM ended): not counted.
        grep -qs "^backend = ${C_BACKEND:-sandbox}" "$d/burrowd" && grep -qs "^user = $2\$" "$d/burrowd" || continue
        pid=$(sed -n 's/^pid = \([0-9]*\)$/\1/p' "$d/meta" 2>/dev/null)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && n=$((n + 1))
    done
    echo $n
}

# c_total USER: her live sandboxes on all hosts.
c_total() { local h n=0; for h in $HOSTS; do n=$((n + $(c_sandboxes $h "$1"))); done; echo $n; }
