#!/usr/bin/env python3
"""tests/cluster/nbdlog.py LOG EXPORT: prove from nbdkit's log filter (the NBD
server's own record of every request, in order) that no two connections ever
wrote EXPORT at overlapping times: for each connection that wrote (Write,
Zero, Trim), the span from its first to its last such request must not
overlap another's. Flushes are not counted: they change no data (a
flush after another host took over cannot write anything the old VM had not
already written before it). Exit 0 and a summary, or 1 naming the overlap."""
import re
import sys

def main():
    path, export = sys.argv[1], sys.argv[2]
    conn_export = {}
    spans = {}
    pat = re.compile(r"connection=(\d+) (\.\.\.)?(\w+)")
    with open(path, errors="replace") as f:
        for n, line in enumerate(f):
            m = pat.search(line)
            if not m:
                continue
            c, op = int(m.group(1)), m.group(3)
            if op == "Connect":
                e = re.search(r"export='?([^' ]*)'?", line)
                conn_export[c] = e.group(1) if e else ""
            elif op in ("Write", "Zero", "Trim") and conn_export.get(c) == export:
                s = spans.setdefault(c, [n, n])
                s[1] = n
    order = sorted(spans.items(), key=lambda kv: kv[1][0])
    for (c1, s1), (c2, s2) in zip(order, order[1:]):
        if s2[0] <= s1[1]:
            print(f"connections {c1} and {c2} wrote {export} at the same time "
                  f"(log lines {s1} and {s2})")
            return 1
    if len(order) < 2:
        print(f"only {len(order)} connection(s) wrote {export}: nothing to compare")
        return 1
    print(f"{len(order)} connections wrote {export}, one after another, never two at once")
    return 0

sys.exit(main())
