#!/usr/bin/env python3
"""tests/e2e/ops_check.py - the e2e-ops group's checks of the audit log and
the metrics (called by tests/e2e/ops.sh; prints what it saw, exits 1 on the
first difference).

  ops_check.py scenario AUDIT METRICS EXPECT.json
  ops_check.py status STATUS_JSON METRICS
  ops_check.py killed AUDIT SESSION_ID
"""
import json
import re
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def audit_lines(path):
    recs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except ValueError as e:
                fail("audit line %d is not JSON (%s): %r" % (n, e, line[:200]))
            for k in ("ts", "event", "writer"):
                if k not in rec:
                    fail("audit line %d has no %s: %r" % (n, k, line[:200]))
            recs.append(rec)
    return recs


SAMPLE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def metrics(path):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                fail("not a sample line: %r" % line)
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(ms, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in ms:
        fail("no sample %s%s" % (name, labels))
    return ms[key]


def want(what, got, expected):
    if got != expected:
        fail("%s: %r, expected %r" % (what, got, expected))


def check_connection(i, exp, evs, e):
    """The events of one connection against what was scripted."""
    kinds = [r["event"] for r in evs]
    want("connection %d first event" % i, kinds[0], "connection_accepted")
    want("connection %d last event" % i, kinds[-1], "connection_closed")
    want("connection %d from" % i, evs[0]["from"], exp["from"])
    auths = [(r["user"], r["event"] == "auth_success") for r in evs if r["event"].startswith("auth_")]
    want("connection %d auth" % i, auths, [tuple(a) for a in exp["auth"]])
    for r in evs:
        if r["event"] == "auth_success":
            want("connection %d key fingerprint" % i, r.get("key_fingerprint"), e["alice_fp"])
        if r["event"] == "auth_failure":
            want("connection %d refused key fingerprint" % i, r.get("key_fingerprint"), e["wrong_fp"])
    logged_in = any(ok for _, ok in auths)
    claims = [r for r in evs if r["event"] == "vm_claimed"]
    want("connection %d vm_claimed" % i, len(claims), 1 if logged_in else 0)
    starts = [r for r in evs if r["event"] == "session_start"]
    ends = {r["channel"]: r for r in evs if r["event"] == "session_end"}
    want("connection %d sessions" % i, len(starts), len(exp["sessions"]))
    want("connection %d session ends" % i, len(ends), len(exp["sessions"]))
    for s, (typ, detail, status) in zip(starts, exp["sessions"]):
        end = ends.get(s["channel"])
        if end is None:
            fail("connection %d channel %d never ended" % (i, s["channel"]))
        want("connection %d type" % i, (s["type"], end["type"]), (typ, typ))
        if typ == "exec":
            want("connection %d command" % i, s.get("command"), detail)
        if typ == "direct-tcpip":
            want("connection %d target" % i, s.get("target"), detail)
            want("connection %d forward bytes out" % i, end["bytes_out"], len("hello-from-inside\n"))
        if typ == "sftp" and (end["bytes_in"] < e["sftp_bytes"] or end["bytes_out"] < e["sftp_bytes"]):
            fail("connection %d sftp moved %d in / %d out, less than the file" % (i, end["bytes_in"], end["bytes_out"]))
        want("connection %d exit status" % i, end.get("exit_status"), status)
        want("connection %d vm" % i, s["vm"], claims[0]["vm"])
    closed = evs[-1]
    want("connection %d closed how" % i, closed["how"], "logout" if logged_in else "no_login")
    want("connection %d failures" % i, closed["auth_failures"], sum(1 for _, ok in auths if not ok))


def scenario(audit_path, metrics_path, expect_path):
    recs = audit_lines(audit_path)
    e = json.load(open(expect_path))
    ms = metrics(metrics_path)
    order = [r["connection"] for r in recs if r["event"] == "connection_accepted"]
    want("connections", len(order), len(e["connections"]))
    allowed = {"connection_accepted", "auth_success", "auth_failure", "vm_claimed", "session_start",
               "session_end", "connection_closed", "vm_created", "vm_ready"}
    for r in recs:
        if r["event"] not in allowed:
            fail("an event nothing scripted caused: %r" % r)
        if r["event"] not in ("vm_created", "vm_ready") and r.get("connection") not in order:
            fail("an event of no accepted connection: %r" % r)
    for i, (cid, exp) in enumerate(zip(order, e["connections"])):
        check_connection(i, exp, [r for r in recs if r.get("connection") == cid], e)
    vms = [r for r in recs if r["event"] in ("vm_created", "vm_ready")]
    want("VM events", sorted(r["event"] for r in vms), ["vm_created", "vm_ready"])
    want("the VM claimed", {r["vm"] for r in vms} | {r["vm"] for r in recs if r["event"] == "vm_claimed"},
         {vms[0]["vm"]})
    # The counters say the same.
    sessions = [s for c in e["connections"] for s in c["sessions"]]
    logins = sum(1 for c in e["connections"] if any(ok for _, ok in c["auth"]))
    failures = sum(1 for c in e["connections"] for _, ok in c["auth"] if not ok)
    want("burrow_connections_accepted_total", metric(ms, "burrow_connections_accepted_total"), len(order))
    want("logins", metric(ms, "burrow_logins_total", method="publickey", result="success"), logins)
    want("no_vm logins", metric(ms, "burrow_logins_total", method="publickey", result="no_vm"), 0)
    want("auth failures", metric(ms, "burrow_auth_failures_total", method="publickey"), failures)
    for typ in ("shell", "exec", "sftp", "direct-tcpip"):
        want("channels " + typ, metric(ms, "burrow_channels_total", type=typ),
             sum(1 for s in sessions if s[0] == typ))
        want("active channels " + typ, metric(ms, "burrow_channels_active", type=typ), 0)
    ends = [r for r in recs if r["event"] == "session_end"]
    want("bytes in", metric(ms, "burrow_channel_bytes_total", direction="in"), sum(r["bytes_in"] for r in ends))
    want("bytes out", metric(ms, "burrow_channel_bytes_total", direction="out"), sum(r["bytes_out"] for r in ends))
    want("vm starts", metric(ms, "burrow_vm_starts_total"), 1)
    want("ready observations", metric(ms, "burrow_vm_ready_seconds_count"), 1)
    want("running VMs", metric(ms, "burrow_vms", state="running"), 1)
    want("penalty strikes", metric(ms, "burrow_penalty_strikes_total"), failures)
    want("penalties", metric(ms, "burrow_penalties_total"), 0)
    want("open connections", metric(ms, "burrow_connections_active"), 0)
    print("%d audit lines, %d connections, %d sessions, %d bytes" %
          (len(recs), len(order), len(ends), sum(r["bytes_in"] + r["bytes_out"] for r in ends)))


def status(text, metrics_path):
    st = json.loads(text)
    ms = metrics(metrics_path)
    want("backend", st["backend"], "sandbox")
    want("sessions", st["sessions"], 1)
    want("channels", st["channels"], 1)
    want("sessions vs metric", st["sessions"], metric(ms, "burrow_sessions_active"))
    want("connections vs metric", st["connections"], metric(ms, "burrow_connections_active"))
    want("vms_running vs metric", st["vms_running"], metric(ms, "burrow_vms", state="running"))
    want("vms_pooled vs metric", st["vms_pooled"], metric(ms, "burrow_vms", state="pooled"))
    want("max_vms vs metric", st["max_vms"], metric(ms, "burrow_vms_max"))
    versions = [dict(k[1])["version"] for k in ms if k[0] == "burrow_build_info"]
    want("version vs burrow_build_info", [st["version"]], versions)
    if not st["listeners"] or not all(isinstance(x, str) for x in st["listeners"]):
        fail("listeners: %r" % st["listeners"])
    for k in ("uptime_seconds", "memory_private_kib", "memory_shared_kib", "pid"):
        if not isinstance(st.get(k), int):
            fail("%s is not a number: %r" % (k, st.get(k)))
    if st["memory_private_kib"] <= 0 or metric(ms, "burrow_vm_memory_bytes", kind="private") <= 0:
        fail("no private memory for a running VM: status %d KiB, metrics %d B" %
             (st["memory_private_kib"], metric(ms, "burrow_vm_memory_bytes", kind="private")))
    print("backend %s, %d session, %d VM running, uptime %ds" % (st["backend"], st["sessions"], st["vms_running"], st["uptime_seconds"]))


def killed(audit_path, sid):
    recs = audit_lines(audit_path)
    admin = [r for r in recs if r["event"] == "admin" and r.get("target") == sid]
    want("admin records", [(r["action"], r["result"], r["via"]) for r in admin], [("session.kill", "ok", "control")])
    evs = [r for r in recs if r.get("connection") == sid]
    ends = [r for r in evs if r["event"] == "session_end"]
    want("session_end of the killed session", [r.get("exit_status") for r in ends], [255])
    want("connection_closed how", [r["how"] for r in evs if r["event"] == "connection_closed"], ["killed"])


if __name__ == "__main__":
    if sys.argv[1] == "scenario":
        scenario(*sys.argv[2:5])
    elif sys.argv[1] == "status":
        status(*sys.argv[2:4])
    elif sys.argv[1] == "killed":
        killed(*sys.argv[2:4])
    else:
        fail("unknown check %s" % sys.argv[1])
