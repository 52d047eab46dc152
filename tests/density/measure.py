#!/usr/bin/env python3
"""tests/density/measure.py - the memory and CPU of every running VMM
process registered under RUN_DIR/vm (bench-density).

  measure.py mem RUN_DIR    one JSON object: n, the mean per VMM process of
                            private, pss, anon, overhead (RSS minus the
                            guest RAM mapping's RSS: what the VMM costs
                            beyond guest pages) and own (private minus the
                            guest mapping's private: the VMM's own heap,
                            stacks and library data) in KiB, the largest
                            private, and the KSM pages merged in them
  measure.py cpu RUN_DIR S  percent of one CPU all VMMs used over S seconds
"""
import glob
import json
import os
import sys
import time


def vmm_pids(run_dir):
    pids = []
    for meta in glob.glob(os.path.join(run_dir, "vm", "*", "meta")):
        try:
            kv = dict(l.split(" = ", 1) for l in open(meta).read().splitlines() if " = " in l)
        except OSError:
            continue
        if kv.get("state") == "running" and os.path.exists("/proc/%s" % kv.get("pid", "0")):
            pids.append(int(kv["pid"]))
    return pids


def rollup(pid):
    out = {}
    for line in open("/proc/%d/smaps_rollup" % pid):
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1])
    return out


def guest_mapping(pid):
    """RSS and private KiB of the guest RAM mapping: the template's memory file, mapped private."""
    rss, private, in_guest = 0, 0, False
    for line in open("/proc/%d/smaps" % pid):
        first = line.split()[0] if line.strip() else ""
        if "-" in first and not first.endswith(":"):
            in_guest = line.rstrip().endswith("/memory")
        elif in_guest and first == "Rss:":
            rss += int(line.split()[1])
        elif in_guest and first in ("Private_Clean:", "Private_Dirty:"):
            private += int(line.split()[1])
    return rss, private


def ksm_pages(pid):
    try:
        return int(open("/proc/%d/ksm_merging_pages" % pid).read())
    except OSError:
        return 0


def mem(run_dir):
    rows = []
    for pid in vmm_pids(run_dir):
        try:
            r = rollup(pid)
            g_rss, g_private = guest_mapping(pid)
            k = ksm_pages(pid)
        except OSError:
            continue
        private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        rows.append({"private": private, "pss": r.get("Pss", 0), "anon": r.get("Anonymous", 0),
                     "overhead": r.get("Rss", 0) - g_rss, "own": private - g_private, "ksm": k})
    n = len(rows)
    mean = lambda key: sum(x[key] for x in rows) / n if n else 0
    print(json.dumps({"n": n, "private": mean("private"), "pss": mean("pss"), "anon": mean("anon"),
                      "overhead": mean("overhead"), "own": mean("own"),
                      "private_max": max((x["private"] for x in rows), default=0),
                      "ksm_pages": sum(x["ksm"] for x in rows)}))


def ticks(pids):
    total = 0
    for pid in pids:
        try:
            f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError):
            pass
    return total


def cpu(run_dir, seconds):
    pids = vmm_pids(run_dir)
    t0, c0 = time.time(), ticks(pids)
    time.sleep(seconds)
    t1, c1 = time.time(), ticks(pids)
    hz = os.sysconf("SC_CLK_TCK")
    print("%.1f" % (100.0 * (c1 - c0) / hz / (t1 - t0)))


if __name__ == "__main__":
    if sys.argv[1] == "mem":
        mem(sys.argv[2])
    else:
        cpu(sys.argv[2], float(sys.argv[3]))
