#!/usr/bin/env python3
"""tests/nested/tftp_server.py FILE PORT LOG - serve FILE to every TFTP read
request (RFC 1350, octet, 512-byte blocks, lock-step with retries) on UDP
PORT: the UDP check of nested case 35 (busybox's tftp client in the guest).
Options a client asks for are ignored, as the RFC allows. The data comes
from PORT itself, not from a new port as RFC 1350 has it: the guest is
behind NAT, where a reply from another port would be a new flow (no TFTP
conntrack helper). One transfer at a time. Appends "sent BYTES to IP" to LOG
per finished transfer; "ready" once bound."""
import socket
import sys

data = open(sys.argv[1], "rb").read()
port, log = int(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("0.0.0.0", port))
with open(log, "a") as f:
    f.write("ready\n")


def ack_for(peer, block):
    """Wait (2 s) for the ACK of block from peer; other packets are ignored."""
    srv.settimeout(2)
    try:
        while True:
            ack, src = srv.recvfrom(600)
            if src == peer and ack[:2] == b"\x00\x04" and int.from_bytes(ack[2:4], "big") == block & 0xFFFF:
                return True
    except socket.timeout:
        return False
    finally:
        srv.settimeout(None)


def send_all(peer):
    block, off = 1, 0
    while True:
        chunk = data[off:off + 512]
        pkt = b"\x00\x03" + (block & 0xFFFF).to_bytes(2, "big") + chunk
        for _ in range(5):
            srv.sendto(pkt, peer)
            if ack_for(peer, block):
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
