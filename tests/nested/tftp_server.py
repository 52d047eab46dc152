#!/usr/bin/env python3
"""tests/nested/tftp_server.py FILE PORT LOG - serve FILE to every TFTP read
request (RFC 1350, octet, 512-byte blocks, lock-step with retries) on UDP
PORT: the UDP check of nested case 35 (busybox's tftp client in the guest).
Options a client asks for are ignored, as the RFC allows. Appends
"sent BYTES to IP" to LOG per finished transfer; "ready" once bound."""
import socket
import sys

data = open(sys.argv[1], "rb").read()
port, log = int(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("0.0.0.0", port))
with open(log, "a") as f:
    f.write("ready\n")


def send_all(peer):
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.settimeout(2)
    t.connect(peer)
    block, off = 1, 0
    while True:
        chunk = data[off:off + 512]
        pkt = b"\x00\x03" + (block & 0xFFFF).to_bytes(2, "big") + chunk
        for _ in range(5):
            t.send(pkt)
            try:
                ack = t.recv(64)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if ack[:2] == b"\x00\x04" and int.from_bytes(ack[2:4], "big") == block & 0xFFFF:
                break
        else:
            return False
        off += 512
        block += 1
        if len(chunk) < 512:
            return True


while True:
    req, peer = srv.recvfrom(600)
    if req[:2] == b"\x00\x01" and send_all(peer):
        with open(log, "a") as f:
            f.write("sent %d to %s\n" % (len(data), peer[0]))
