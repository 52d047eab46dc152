#!/usr/bin/env python3
"""The client side of an ssh -R test: accept COUNT connections (default 1),
one after the other; from each read exactly N bytes, answer with their sha256
(one line) and then N random bytes, and append "sha256-in bytes-in sha256-out"
to OUT. Prints the port it listens on first.
usage: rfwd-server.py N OUT [COUNT]"""
import hashlib, os, socket, sys

n, out = int(sys.argv[1]), sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(60)
print(s.getsockname()[1], flush=True)
for _ in range(count):
    c, _ = s.accept()
    c.settimeout(60)
    h, got = hashlib.sha256(), 0
    while got < n:
        d = c.recv(min(65536, n - got))
        if not d:
            break
        h.update(d)
        got += len(d)
    back = os.urandom(n)
    with open(out, "a") as f:
        f.write("%s %d %s\n" % (h.hexdigest(), got, hashlib.sha256(back).hexdigest()))
    c.sendall(h.hexdigest().encode() + b"\n" + back)
    c.close()
