#!/usr/bin/python3
"""The e2e tier's second SSH client: paramiko (Debian's python3-paramiko),
independent of OpenSSH. One subcommand per check; each prints what it saw and
exits 0 only if the check held (the shell script compares the output too).

usage: pclient.py --port P --user U [--key FILE] [--password PW] [--code C] CMD ARGS...
  exec COMMAND            run it; print stdout; exit with the remote status + 100
  sessions N              open N session channels on one connection; print "opened K"
  shell                   pty shell: stty size, resize_pty, stty size, exit 7
  sftp BYTES              put and get BYTES of random data; checksums
  tcpip PORT              direct-tcpip to 127.0.0.1:PORT inside; print what it sends
  reason PORT             direct-tcpip to a closed port; print the refusal's code
  env NAME=VALUE COMMAND  environment request, then exec
  signal SIG COMMAND      exec, send a raw "signal" request once "started" is read,
                          print the seconds until the channel closed and the exit
  rforward                tcpip-forward a dynamic port, a connection made inside
                          reaches us as forwarded-tcpip, then cancel-tcpip-forward
  kbdint                  keyboard-interactive (after --key's publickey if given),
                          answering --password, then --code
"""
import argparse, hashlib, os, socket, sys, time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message


def connect(a, auth=True):
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    t = paramiko.Transport(sock)
    t.start_client(timeout=20)
    if not auth:
        return t
    if a.kbdint:
        if a.key:  # a first method, then keyboard-interactive for what is left
            key = paramiko.Ed25519Key.from_private_key_file(a.key)
            print("after publickey:", t.auth_publickey(a.user, key))
        answers = [x for x in (a.password, a.code) if x is not None]
        prompts_seen = []

        def handler(title, instructions, prompts):
            prompts_seen.append([p for p, _ in prompts])
            return [answers.pop(0) if answers else "" for _ in prompts]

        try:
            t.auth_interactive(a.user, handler)
        finally:
            print("prompts:", prompts_seen)
    elif a.key:
        key = paramiko.Ed25519Key.from_private_key_file(a.key)
        t.auth_publickey(a.user, key)
    else:
        t.auth_password(a.user, a.password)
    return t


def run_exec(t, command, env=None):
    ch = t.open_session(timeout=20)
    if env:
        ch.update_environment(env)
    ch.exec_command(command)
    out = b""
    while True:
        d = ch.recv(65536)
        if not d:
            break
        out += d
    return out, ch.recv_exit_status()


def cmd_exec(a, t):
    out, st = run_exec(t, a.args[0])
    sys.stdout.write(out.decode(errors="replace"))
    print("status", st)
    return 0


def cmd_sessions(a, t):
    n, chans, err = int(a.args[0]), [], None
    for _ in range(n):
        try:
            chans.append(t.open_session(timeout=20))
        except paramiko.ChannelException as e:
            err = "refused %d %s" % (e.code, e.text)
            break
    print("opened", len(chans), err or "")
    # The survivors still work.
    ch = chans[0]
    ch.exec_command("echo alive")
    print(ch.recv(100).decode().strip())
    return 0


def read_until(ch, needle, timeout=20):
    buf, end = b"", time.time() + timeout
    while needle not in buf and time.time() < end:
        if ch.recv_ready():
            buf += ch.recv(65536)
        else:
            time.sleep(0.05)
    return buf


def cmd_shell(a, t):
    ch = t.open_session(timeout=20)
    ch.get_pty(term="xterm", width=80, height=24)
    ch.invoke_shell()
    # The marker is computed by the shell: the pty echoes the typed line first,
    # and a literal marker there ended the read before stty's answer came.
    ch.send(b"stty size; echo MARK$((0+1))\n")
    first = read_until(ch, b"MARK1\r\n")
    ch.resize_pty(width=132, height=40)
    second = b""
    for i in range(20):  # the window change travels beside the data: ask until it shows
        ch.send(b"stty size; echo MARK$((0+%d))\n" % (i + 2))
        second = read_until(ch, b"MARK%d\r\n" % (i + 2))
        if b"40 132" in second:
            break
        time.sleep(0.25)
    ch.send(b"exit 7\n")
    st = ch.recv_exit_status()
    ok = b"24 80" in first and b"40 132" in second and st == 7
    print("sizes", b"24 80" in first, b"40 132" in second, "status", st)
    return 0 if ok else 1


def cmd_sftp(a, t):
    size = int(a.args[0])
    data = os.urandom(size)
    want = hashlib.sha256(data).hexdigest()
    sftp = paramiko.SFTPClient.from_transport(t)
    with sftp.open("pclient.bin", "wb") as f:
        f.set_pipelined(True)
        f.write(data)
    st = sftp.stat("pclient.bin")
    with sftp.open("pclient.bin", "rb") as f:
        f.prefetch()
        back = f.read()
    sftp.remove("pclient.bin")
    got = hashlib.sha256(back).hexdigest()
    print("size", st.st_size, "sha256 equal", got == want)
    return 0 if got == want and st.st_size == size else 1


def cmd_tcpip(a, t):
    ch = t.open_channel("direct-tcpip", ("127.0.0.1", int(a.args[0])), ("127.0.0.1", 40000),
                        timeout=20)
    print(read_until(ch, b"\n").decode().strip())
    return 0


def cmd_reason(a, t):
    try:
        t.open_channel("direct-tcpip", ("127.0.0.1", int(a.args[0])), ("127.0.0.1", 40000),
                       timeout=20)
    except paramiko.ChannelException as e:
        print("refused", e.code, e.text)
        return 0
    print("opened")
    return 1


def cmd_env(a, t):
    name, _, value = a.args[0].partition("=")
    out, st = run_exec(t, a.args[1], {name: value})
    sys.stdout.write(out.decode(errors="replace"))
    return 0


def send_signal(ch, name):
    """RFC 4254 6.9 'signal': paramiko has no call for it, so the raw request."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(ch.remote_chanid)
    m.add_string("signal")
    m.add_boolean(False)
    m.add_string(name)
    ch.transport._send_user_message(m)


def cmd_signal(a, t):
    ch = t.open_session(timeout=20)
    ch.exec_command(a.args[1])
    out = read_until(ch, b"started")
    t0 = time.time()
    send_signal(ch, a.args[0])
    while True:
        d = ch.recv(65536)
        if not d:
            break
        out += d
    st = ch.recv_exit_status()
    print("closed after %.1f s" % (time.time() - t0), "status", st, out.decode().split())
    return 0


def cmd_rforward(a, t):
    port = t.request_port_forward("localhost", 0)
    ch = t.open_session(timeout=20)
    ch.exec_command("busybox nc 127.0.0.1 %d" % port)
    fwd = t.accept(timeout=20)
    if fwd is None:
        print("no forwarded channel")
        return 1
    fwd.sendall(b"hello-through-paramiko\n")
    fwd.close()
    print("forwarded:", read_until(ch, b"\n").decode().strip())
    ch.close()
    t.cancel_port_forward("localhost", port)
    time.sleep(0.3)
    out, st = run_exec(t, "busybox nc 127.0.0.1 %d </dev/null && echo connected || echo refused"
                       % port)
    print("after cancel:", out.decode().strip())
    return 0


def cmd_kbdint(a, t):
    out, st = run_exec(t, "echo kbdint-ok")
    print(out.decode().strip())
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--key")
    p.add_argument("--password")
    p.add_argument("--code")
    p.add_argument("cmd")
    p.add_argument("args", nargs="*")
    a = p.parse_args()
    a.kbdint = a.cmd == "kbdint"
    try:
        t = connect(a)
    except paramiko.AuthenticationException as e:
        print("auth failed:", e)
        return 3
    try:
        return globals()["cmd_" + a.cmd](a, t)
    finally:
        t.close()


if __name__ == "__main__":
    sys.exit(main())
