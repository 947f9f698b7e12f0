#!/usr/bin/python3
"""Chaos test for a tidemq cluster: real nodes, real MQTT clients, seeded faults.

It tries to make the cluster lose, duplicate (QoS 2) or reorder messages, or keep one
client's session on two nodes, and a checker (`check(log)`, a pure function over the
recorded events) reports every violation.  See tests/chaos/README.md.

    /usr/bin/python3 tests/chaos/chaos.py --seed 7 --duration 30 --nodes 3 --profile strict
    /usr/bin/python3 tests/chaos/chaos.py --check-log run.json      # re-run the checker on a saved log

Exit codes: 0 no violation, 1 violations (printed), 2 usage or setup error (or a harness fault).

Every random choice comes from random.Random(seed): the plan (clients, subscriptions,
placement, the whole fault schedule) is a pure function of the seed and the options, and
the per-client random generators are seeded from it too.  Timing on a real machine still
varies, so a replay runs the same schedule, not the same interleaving.
"""

import argparse
import bisect
import collections
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEGRATION = REPO / "tests" / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

EXIT_OK, EXIT_VIOLATIONS, EXIT_SETUP = 0, 1, 2

# --- cluster knobs of a chaos run ---------------------------------------------------------
# Heartbeats as short as the integration tests' (clusterhelpers.HEARTBEAT_MS); a longer
# down detection than theirs so that a "short" pause (strict profile) is safely below it on a
# busy 2-core machine, and an RPC timeout below the longest short pause so that a stalled
# node makes RPCs time out without being declared down.
HEARTBEAT_MS = 250
DOWN_AFTER = 12                     # down detection = 3.0 s
RPC_TIMEOUT_MS = 1000
SESSION_EXPIRY = 600
MAX_MQUEUE_LEN = 100000

SHORT_PAUSE = (0.3, 2.0)            # strict and crash; below down detection - 1 s
STALL_PAUSE = (1.3, 2.0)            # a stalled migration target: > rpc timeout, < down detection
LONG_PAUSE = (4.0, 6.0)             # crash only: > down detection
KILL_DOWN = (1.0, 4.0)              # crash only: kill -9, restart after this long
CRASH_MARGIN = 2.0                  # crash exemption window: +-(down detection + CRASH_MARGIN)
NEAR = 3.0                          # "faults near a violation": within this many seconds

CONNACK_TIMEOUT = 3.0
SUBACK_TIMEOUT = 5.0
ROUTE_CONFIRM_TIMEOUT = 15.0
MAX_PENDING = 40                    # per publisher: unacknowledged messages before it holds off
MAX_DETAILS = 300                   # violations listed per kind in the report (all are counted)

ALL_FAULTS = ("drop", "kick", "pause", "stall", "evacuate", "rebalance", "kill", "longpause")
STRICT_FAULTS = ("drop", "kick", "pause", "stall", "evacuate", "rebalance")
CRASH_FAULTS = ALL_FAULTS

_integration = None


def integration():
    """tests/integration helpers (imported lazily: they read TIDEMQ_BIN at import)."""
    global _integration
    if _integration is None:
        import warnings
        with warnings.catch_warnings():
            # clusterhelpers declares a mark that tests/integration/conftest.py registers
            warnings.simplefilter("ignore")
            import clusterhelpers
            import conftest
        _integration = (clusterhelpers, conftest)
    return _integration


# ==========================================================================================
# The checker: a pure function over a recorded log
# ==========================================================================================
#
# log = {
#   "meta": {"profile": "strict"|"crash", "down_seconds": float, "crash_margin": float},
#   "clients": {client id: {"kind": "sub"|"pub", "version": 4|5, "filters": [[filter, qos]]}},
#   "events": [ {"ev": kind, "t": seconds, ...}, ... ]  (any order; sorted by t here)
#   "recv": [ [t, client, epoch, publisher, topic, seq, qos, dup, packet id], ... ]   (arrival
#            order; the packet id is optional)
#   "sessions": [ {"t": s, "nodes": {node: [[clientid, connected], ...]},
#                  "subscriptions": {node: [[clientid, filter, qos], ...]}}, ...]  (listings)
# }
# Event kinds the checker reads:
#   publish      pub topic seq qos [node]         a PUBLISH handed to the client library
#   ack          pub topic seq rc ok              PUBACK/PUBCOMP (ok: rc 0 or 0x10, PUBREC ok)
#   pub_reset    pub inflight=[[topic, seq]]      publisher got session_present=0 after having one
#   connected    client node session_present epoch
#   session_reset client epoch [role]             session_present=0 after having one (role sub|pub)
#   sub_effective client epoch filter qos [unconfirmed]   subscribed and routes seen everywhere
#   not_reconnected client                        still offline when the run ended
#   fault        kind t [t_end] [node] [client] [long] [stall] ...
#   membership   node running stopped             a node's view of the cluster changed
#   warning      text

RECV_T, RECV_CLIENT, RECV_EPOCH, RECV_PUB, RECV_TOPIC, RECV_SEQ, RECV_QOS, RECV_DUP, RECV_MID = range(9)


def topic_matches(flt, topic):
    f, t = flt.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t):
            return False
        if part != "+" and part != t[i]:
            return False
    return len(f) == len(t)


def _fault_span(f):
    return f["t"], f.get("t_end", f["t"])


def _fault_text(f):
    a, b = _fault_span(f)
    what = f["kind"]
    if f.get("stall"):
        what = "stall(pause)"
    elif f["kind"] == "pause" and f.get("long"):
        what = "long pause"
    who = f.get("node") or ""
    if f.get("client"):
        who = f["client"] + (" on %s" % f["node"] if f.get("node") else "")
    extra = ""
    if f.get("to"):
        extra = " ->%s" % f["to"]
    if f.get("done") is False:
        extra += " (not done)"
    if f.get("hold"):
        extra += " hold %.1fs" % f["hold"]
    if b > a:
        return "%s %s%s %.2f-%.2f" % (what, who, extra, a, b)
    return "%s %s%s @%.2f" % (what, who, extra, a)


def check(log):
    """Checks a recorded run; returns a report dict:
    {"ok": bool, "totals": {...}, "violations": {kind: [detail, ...]}, "violation_counts": {kind: n},
     "exemptions": {...}, "warnings": [...]}."""
    meta = log.get("meta") or {}
    profile = meta.get("profile", "strict")
    down = float(meta.get("down_seconds", HEARTBEAT_MS * DOWN_AFTER / 1000.0))
    margin = down + float(meta.get("crash_margin", CRASH_MARGIN))
    events = sorted(log.get("events", []), key=lambda e: e["t"])
    recv = log.get("recv", [])
    clients = log.get("clients", {})

    violations = collections.defaultdict(list)
    counts = collections.Counter()
    exempt = collections.Counter()
    warnings = [e.get("text", "") for e in events if e["ev"] == "warning"]

    def violate(kind, detail):
        counts[kind] += 1
        if len(violations[kind]) < MAX_DETAILS:
            violations[kind].append(detail)

    faults = [e for e in events if e["ev"] == "fault"]
    fault_starts = sorted(faults, key=lambda f: f["t"])

    def near(a, b):
        out = []
        for f in fault_starts:
            fa, fb = _fault_span(f)
            if fa > b + NEAR:
                break
            if fb >= a - NEAR:
                out.append(_fault_text(f))
        if len(out) > 16:
            out = out[:16] + ["... %d more" % (len(out) - 16)]
        return out

    # crash exemption windows
    windows = []
    kills = []
    if profile == "crash":
        for f in faults:
            if f["kind"] == "kill" or (f["kind"] == "pause" and f.get("long")):
                a, b = _fault_span(f)
                windows.append((a - margin, b + margin))
            if f["kind"] == "kill":
                kills.append(f)

    def in_window(a, b):
        for wa, wb in windows:
            if a <= wb and b >= wa:
                return True
        return False

    # publications
    msgs = {}
    for e in events:
        if e["ev"] == "publish":
            msgs[(e["pub"], e["topic"], e["seq"])] = {
                "t_pub": e["t"], "qos": e["qos"], "node": e.get("node"), "t_ack": None, "rc": None,
                "ok": False, "pub_reset": False}
    for e in events:
        if e["ev"] == "ack":
            m = msgs.get((e["pub"], e["topic"], e["seq"]))
            if m is not None and m["t_ack"] is None:
                m["t_ack"], m["rc"], m["ok"] = e["t"], e["rc"], bool(e["ok"])
        elif e["ev"] == "pub_reset":
            for topic, seq in e.get("inflight", []):
                m = msgs.get((e["pub"], topic, seq))
                if m is not None:
                    m["pub_reset"] = True

    # subscribers: final epoch, effective time of each filter in it, connection history
    final_epoch = collections.defaultdict(int)
    effective = {}      # (client, filter) -> (epoch, t, qos, unconfirmed)
    history = collections.defaultdict(list)   # client -> [(t, what)]
    connects = collections.defaultdict(list)  # client -> [(t, node, session_present)]
    unreachable = set()
    for e in events:
        ev = e["ev"]
        if ev == "session_reset":
            final_epoch[e["client"]] = max(final_epoch[e["client"]], e["epoch"])
            history[e["client"]].append((e["t"], "session reset (epoch %d)" % e["epoch"]))
        elif ev == "sub_effective":
            key = (e["client"], e["filter"])
            prev = effective.get(key)
            if prev is None or e["epoch"] > prev[0]:
                effective[key] = (e["epoch"], e["t"], e.get("qos"), bool(e.get("unconfirmed")))
        elif ev == "connected":
            connects[e["client"]].append((e["t"], e.get("node"), e.get("session_present")))
            history[e["client"]].append((e["t"], "connected to %s sp=%d" % (
                e.get("node"), int(bool(e.get("session_present"))))))
        elif ev == "disconnected":
            history[e["client"]].append((e["t"], "disconnected from %s (%s)" % (e.get("node"), e.get("reason"))))
        elif ev == "not_reconnected":
            unreachable.add(e["client"])

    def history_near(client, a, b, span=5.0):
        return ["%.2f %s" % (t, w) for t, w in history.get(client, []) if a - span <= t <= b + span][:12]

    def node_at(client, t):
        node = None
        for tc, n, _ in connects.get(client, []):
            if tc > t:
                break
            node = n
        return node

    def next_connect_after(client, t):
        for tc, _, _ in connects.get(client, []):
            if tc > t:
                return tc
        return float("inf")

    # subscriptions in force at the end, by topic
    subs_for_topic = {}

    def covering(topic):
        got = subs_for_topic.get(topic)
        if got is None:
            got = []
            for (client, flt), (epoch, t, qos, unconfirmed) in effective.items():
                if epoch == final_epoch[client] and topic_matches(flt, topic):
                    got.append((client, flt, t, qos, unconfirmed))
            subs_for_topic[topic] = got
        return got

    # receipts
    received = collections.defaultdict(list)   # (client, pub, topic, seq) -> [(t, epoch, qos, dup)]
    filters_of = {c: [f for f, _ in (info.get("filters") or [])] for c, info in clients.items()}
    for r in recv:
        received[(r[RECV_CLIENT], r[RECV_PUB], r[RECV_TOPIC], r[RECV_SEQ])].append(
            (r[RECV_T], r[RECV_EPOCH], r[RECV_QOS], r[RECV_DUP], r[RECV_MID] if len(r) > RECV_MID else None))
        fl = filters_of.get(r[RECV_CLIENT])
        if fl is not None and not any(topic_matches(f, r[RECV_TOPIC]) for f in fl):
            violate("MISROUTED", {"client": r[RECV_CLIENT], "pub": r[RECV_PUB], "topic": r[RECV_TOPIC],
                                  "seq": r[RECV_SEQ], "t": r[RECV_T], "filters": fl})

    # LOST
    totals = collections.Counter()
    lost_keys = []
    for (pub, topic, seq), m in msgs.items():
        totals["published"] += 1
        if m["t_ack"] is None:
            totals["unacknowledged"] += 1
            continue
        if not m["ok"]:
            totals["rejected"] += 1
            continue
        totals["accepted"] += 1
        if m["rc"] == 0x10:
            totals["accepted_no_matching_subscribers"] += 1
        if m["qos"] == 1:
            totals["accepted_qos1"] += 1
        else:
            totals["accepted_qos2"] += 1
        t_pub, t_ack = m["t_pub"], m["t_ack"]
        msg_in_window = in_window(t_pub, t_ack) if windows else False
        msg_exempt = False
        for client, flt, t_eff, sub_qos, unconfirmed in covering(topic):
            if t_pub < t_eff:
                continue
            key = (client, pub, topic, seq)
            got = key in received
            if client in unreachable:
                exempt["subscriber_never_reconnected"] += 1
                continue
            reason = None
            if msg_in_window:
                reason = "crash_window"
            else:
                for k in kills:
                    if node_at(client, k["t"]) == k.get("node") and \
                            k["t"] - margin <= t_pub <= next_connect_after(client, k["t"]) + margin:
                        reason = "session_on_killed_node"
                        break
            if reason is not None:
                msg_exempt = True
                exempt["owed_%s" % reason] += 1
                if not got:
                    exempt["missing_%s" % reason] += 1
                continue
            totals["owed"] += 1
            if got:
                totals["owed_delivered"] += 1
            else:
                lost_keys.append(key)
                violate("LOST", {
                    "client": client, "pub": pub, "topic": topic, "seq": seq, "qos": m["qos"],
                    "sub_qos": sub_qos, "filter": flt, "t_publish": round(t_pub, 3), "t_accepted": round(t_ack, 3),
                    "ack_rc": m["rc"], "publisher_node": m["node"], "sub_effective_since": round(t_eff, 3),
                    "route_unconfirmed": unconfirmed, "subscriber_node_at_publish": node_at(client, t_pub),
                    "faults_near": near(t_pub, t_ack), "subscriber_history": history_near(client, t_pub, t_ack)})
        if msg_exempt:
            totals["messages_exempted"] += 1

    # runs of consecutive lost seqs (a compact summary of LOST)
    runs = []
    by_stream = collections.defaultdict(list)
    for client, pub, topic, seq in lost_keys:
        by_stream[(client, pub, topic)].append(seq)
    for (client, pub, topic), seqs in sorted(by_stream.items()):
        seqs.sort()
        start = prev = seqs[0]
        for s in seqs[1:] + [None]:
            if s is not None and s == prev + 1:
                prev = s
                continue
            a, b = msgs[(pub, topic, start)], msgs[(pub, topic, prev)]
            runs.append({"client": client, "pub": pub, "topic": topic, "seqs": [start, prev], "count": prev - start + 1,
                         "t_publish": [round(a["t_pub"], 3), round(b["t_pub"], 3)],
                         "faults_near": near(a["t_pub"], b["t_ack"] or b["t_pub"])})
            if s is not None:
                start = prev = s

    # DUPLICATE (QoS 2) and QoS 1 duplicates; UNKNOWN messages
    for key, lst in received.items():
        client, pub, topic, seq = key
        m = msgs.get((pub, topic, seq))
        if m is None:
            violate("UNKNOWN_MESSAGE", {"client": client, "pub": pub, "topic": topic, "seq": seq,
                                        "t": round(lst[0][0], 3)})
            continue
        totals["deliveries"] += len(lst)
        totals["distinct_deliveries"] += 1
        by_epoch = collections.defaultdict(list)
        for item in lst:
            by_epoch[item[1]].append(item)
        for epoch, items in by_epoch.items():
            if len(items) < 2:
                continue
            q2 = [i for i in items if i[2] == 2]
            if len(q2) >= 2:
                if m["pub_reset"]:
                    exempt["qos2_duplicate_after_publisher_session_reset"] += len(q2) - 1
                elif windows and in_window(m["t_pub"], m["t_ack"] if m["t_ack"] is not None else m["t_pub"]):
                    exempt["qos2_duplicate_crash_window"] += len(q2) - 1
                else:
                    violate("DUPLICATE", {"client": client, "pub": pub, "topic": topic, "seq": seq, "epoch": epoch,
                                          "receipts": [{"t": round(i[0], 3), "qos": i[2], "dup": bool(i[3]),
                                                        "packet_id": i[4]} for i in items],
                                          "t_publish": round(m["t_pub"], 3),
                                          "faults_near": near(m["t_pub"], items[-1][0]),
                                          "subscriber_history": history_near(client, m["t_pub"], items[-1][0]),
                                          "publisher_history": history_near(pub, m["t_pub"], m["t_ack"] or m["t_pub"])})
                totals["qos1_duplicates"] += len(items) - len(q2)
            else:
                totals["qos1_duplicates"] += len(items) - 1

    # SESSION_LOST: session_present=0 after having a session, not explained by a kick of that
    # client since its previous connection (nor, in the crash profile, by a crash window)
    epoch_start = {}
    kicks = collections.defaultdict(list)
    for f in faults:
        if f["kind"] == "kick" and f.get("done", True) and f.get("client"):
            kicks[f["client"]].append(f["t"])
    last_connect = {}
    for e in events:
        if e["ev"] == "connected":
            last_connect.setdefault(e["client"], []).append(e["t"])
        elif e["ev"] == "session_reset":
            c, t = e["client"], e["t"]
            if e.get("epoch") is not None:
                epoch_start[(c, e["epoch"])] = t
            upto = [x for x in last_connect.get(c, []) if x <= t]   # the last one is this connection
            before = upto[:-1]
            prev = before[-1] if before else float("-inf")
            if any(prev <= k <= t + 1.0 for k in kicks.get(c, [])):
                totals["session_resets_after_kick"] += 1
            elif windows and in_window(prev if prev > float("-inf") else t, t):
                exempt["session_reset_crash_window"] += 1
            else:
                violate("SESSION_LOST", {"client": c, "role": e.get("role", "sub"), "t_reset": round(t, 3),
                                         "node": e.get("node"),
                                         "previous_connect": round(prev, 3) if before else None,
                                         "faults_near": near(prev if before else t, t),
                                         "history": history_near(c, t, t)})

    # REORDERED: per (client, epoch, publisher connection, topic), first receipts of distinct seqs
    # increase. Order is promised per publisher connection (docs/cluster.md, "Invariants"): what a
    # publisher sent on an earlier connection, perhaps to another node, may still be on its way
    # when what it sends on the next one arrives.
    pub_connects = collections.defaultdict(list)
    for e in events:
        if e["ev"] == "connected":
            pub_connects[e["client"]].append(e["t"])

    def publisher_connection(pub, seq, topic):
        m = msgs.get((pub, topic, seq))
        return bisect.bisect_right(pub_connects.get(pub, []), m["t_pub"]) if m else -1

    streams = {}
    for r in recv:
        key = (r[RECV_CLIENT], r[RECV_EPOCH], r[RECV_PUB], publisher_connection(r[RECV_PUB], r[RECV_SEQ], r[RECV_TOPIC]),
               r[RECV_TOPIC])
        st = streams.get(key)
        if st is None:
            st = streams[key] = [-1, set(), None]
        seq = r[RECV_SEQ]
        if seq in st[1]:
            continue
        st[1].add(seq)
        if seq < st[0]:
            m = msgs.get((r[RECV_PUB], r[RECV_TOPIC], seq))
            if windows and m is not None and in_window(m["t_pub"], r[RECV_T]):
                exempt["reorder_crash_window"] += 1
            else:
                began = epoch_start.get((r[RECV_CLIENT], r[RECV_EPOCH]))
                violate("REORDERED", {"client": r[RECV_CLIENT], "pub": r[RECV_PUB], "topic": r[RECV_TOPIC],
                                      "seq": seq, "after_seq": st[0], "t": round(r[RECV_T], 3),
                                      "t_after": round(st[2], 3), "epoch": r[RECV_EPOCH],
                                      "t_publish": round(m["t_pub"], 3) if m else None,
                                      # an old session's message delivered into the new one
                                      "published_before_this_session": bool(
                                          m and began is not None and m["t_pub"] < began),
                                      "faults_near": near(m["t_pub"] if m else r[RECV_T], r[RECV_T]),
                                      "subscriber_history": history_near(r[RECV_CLIENT], st[2], r[RECV_T])})
        else:
            st[0], st[2] = seq, r[RECV_T]

    # TWO_SESSIONS: a client id listed by two nodes, in every listing taken after quiescence
    listings = log.get("sessions") or []
    exempted_two_sessions = []
    ours = set(clients)
    per_listing = []
    for lst in listings:
        where = collections.defaultdict(list)
        for node, rows in lst.get("nodes", {}).items():
            for cid, connected in rows:
                if cid in ours:
                    where[cid].append([node, bool(connected)])
        per_listing.append(where)
    if per_listing:
        last = per_listing[-1]
        doubled = sorted({cid for w in per_listing for cid, places in w.items() if len(places) >= 2})
        for cid in doubled:
            if all(len(w.get(cid, [])) >= 2 for w in per_listing):
                detail = {"client": cid, "sessions": last[cid],
                          "history": ["%.2f %s" % x for x in history.get(cid, [])][-8:]}
                final = connects.get(cid, [])[-1:] or [None]
                # crash profile: the session in force was created afresh (session_present=0)
                # inside a crash window and never moved since, so the other copy is the one the
                # cluster gave up for lost with its node (see README)
                if windows and final[0] is not None and not final[0][2] and in_window(final[0][0], final[0][0]):
                    exempt["two_sessions_after_crash_fault"] += 1
                    exempted_two_sessions.append(detail)
                else:
                    violate("TWO_SESSIONS", detail)
            else:
                warnings.append("client %s had sessions on two nodes in some listings only (transient): %s" % (
                    cid, [w.get(cid) for w in per_listing]))
        missing = sorted(c for c in ours if c not in last and c not in unreachable)
        if missing:
            warnings.append("no node lists a session for %d client(s) after quiescence: %s" % (
                len(missing), ", ".join(missing[:10])))
        totals["sessions_listed"] = sum(len(v) for v in last.values())
        subs_listed = (listings[-1].get("subscriptions") or {})
        if subs_listed:
            seen = collections.Counter()
            has = collections.defaultdict(set)
            for node, rows in subs_listed.items():
                for cid, flt, qos in rows:
                    if cid in ours:
                        seen[(cid, flt, node)] += 1
                        has[cid].add(flt)
            for (cid, flt, node), k in sorted(seen.items()):
                if k > 1:
                    warnings.append("%s lists the subscription %s of %s %d times" % (node, flt, cid, k))
            for cid, info in sorted(clients.items()):
                want = {f for f, _ in (info.get("filters") or [])}
                if want and cid not in unreachable and cid in last and not want <= has[cid]:
                    warnings.append("%s: subscriptions %s not listed by any node after quiescence" % (
                        cid, sorted(want - has[cid])))

    for c in sorted(unreachable):
        violate("NOT_RECONNECTED", {"client": c, "history": ["%.2f %s" % x for x in history.get(c, [])][-8:]})

    totals["receipts"] = len(recv)
    totals["subscriber_session_resets"] = sum(1 for e in events if e["ev"] == "session_reset"
                                              and e.get("role", "sub") == "sub")
    totals["publisher_session_resets"] = sum(1 for e in events if e["ev"] == "session_reset"
                                             and e.get("role") == "pub")
    fault_counts = collections.Counter(
        ("stall" if f.get("stall") else "longpause" if f["kind"] == "pause" and f.get("long") else f["kind"])
        for f in faults if f.get("done", True))
    unexpected_down = []
    if profile == "strict":
        for e in events:
            if e["ev"] == "membership" and e.get("stopped"):
                unexpected_down.append("%.2f %s sees %s stopped" % (e["t"], e["node"], e["stopped"]))
        if unexpected_down:
            warnings.append("strict run, but a node was declared down (a pause exceeded the down detection "
                            "on a loaded machine?): " + "; ".join(unexpected_down[:5]))
    return {
        "ok": not counts,
        "profile": profile,
        "totals": dict(totals),
        "faults": dict(fault_counts),
        "violation_counts": dict(counts),
        "violations": {k: v for k, v in violations.items()},
        "lost_runs": runs[:MAX_DETAILS],
        "exemptions": dict(exempt),
        "exempted_two_sessions": exempted_two_sessions,
        "crash_windows": [[round(a, 2), round(b, 2)] for a, b in windows],
        "warnings": warnings,
    }


def format_report(rep, limit=12):
    """Human-readable summary of a check() report."""
    out = []
    t = rep["totals"]
    out.append("profile %s: published %d, accepted %d (qos1 %d, qos2 %d; %d with 0x10 no matching subscribers), "
               "rejected %d, unacknowledged %d" % (
                   rep["profile"], t.get("published", 0), t.get("accepted", 0), t.get("accepted_qos1", 0),
                   t.get("accepted_qos2", 0), t.get("accepted_no_matching_subscribers", 0), t.get("rejected", 0),
                   t.get("unacknowledged", 0)))
    out.append("owed (message x subscriber) %d, delivered of those %d; receipts %d (distinct %d), QoS 1 duplicates %d; "
               "messages exempted %d" % (
                   t.get("owed", 0), t.get("owed_delivered", 0), t.get("receipts", 0), t.get("distinct_deliveries", 0),
                   t.get("qos1_duplicates", 0), t.get("messages_exempted", 0)))
    out.append("session resets: subscribers %d, publishers %d; faults: %s" % (
        t.get("subscriber_session_resets", 0), t.get("publisher_session_resets", 0),
        ", ".join("%s %d" % kv for kv in sorted(rep.get("faults", {}).items())) or "none"))
    if rep.get("exemptions"):
        out.append("exemptions: " + ", ".join("%s %d" % kv for kv in sorted(rep["exemptions"].items())))
    for d in rep.get("exempted_two_sessions", [])[:limit]:
        out.append("exempted (crash profile) two sessions: " + json.dumps(d, sort_keys=True))
    for w in rep.get("warnings", []):
        out.append("WARNING: " + w)
    if rep["ok"]:
        out.append("NO VIOLATIONS")
        return "\n".join(out)
    out.append("VIOLATIONS: " + ", ".join("%s %d" % kv for kv in sorted(rep["violation_counts"].items())))
    if rep.get("lost_runs"):
        out.append("  lost, as runs of consecutive seqs:")
        for r in rep["lost_runs"][:limit]:
            out.append("    %s <- %s %s seq %d..%d (%d msgs) published %.2f..%.2f; near: %s" % (
                r["client"], r["pub"], r["topic"], r["seqs"][0], r["seqs"][1], r["count"], r["t_publish"][0],
                r["t_publish"][1], "; ".join(r["faults_near"]) or "-"))
        if len(rep["lost_runs"]) > limit:
            out.append("    ... %d more runs" % (len(rep["lost_runs"]) - limit))
    for kind, items in sorted(rep["violations"].items()):
        out.append("  %s (%d):" % (kind, rep["violation_counts"][kind]))
        for d in items[:limit]:
            out.append("    " + json.dumps(d, sort_keys=True))
        if rep["violation_counts"][kind] > limit:
            out.append("    ... %d more" % (rep["violation_counts"][kind] - limit))
    return "\n".join(out)


# ==========================================================================================
# The plan: clients, subscriptions and the fault schedule, from the seed
# ==========================================================================================

class Config:
    def __init__(self, seed=1, duration=30.0, nodes=3, profile="strict", subs=24, v311=0.2, topics=6,
                 rate=8.0, faults=None, drop_rate=0.5, verbose=False, netns=False):
        self.seed = int(seed)
        self.duration = float(duration)
        self.nodes = int(nodes)
        self.profile = profile
        self.subs = int(subs)
        self.v311 = float(v311)
        self.topics = int(topics)
        self.rate = float(rate)
        self.drop_rate = float(drop_rate)
        self.verbose = verbose
        self.netns = netns
        if faults is None:
            faults = STRICT_FAULTS if profile == "strict" else CRASH_FAULTS
            if self.nodes < 2:
                faults = ("drop", "kick")
        self.faults = tuple(faults)

    def validate(self):
        if self.profile not in ("strict", "crash"):
            raise ValueError("--profile must be strict or crash")
        if not 1 <= self.nodes <= 4:
            raise ValueError("--nodes must be 1..4 (3 or 4 for a real chaos run)")
        if self.duration < 10:
            raise ValueError("--duration must be at least 10 s")
        unknown = [f for f in self.faults if f not in ALL_FAULTS]
        if unknown:
            raise ValueError("unknown fault kinds %s (known: %s)" % (unknown, ",".join(ALL_FAULTS)))
        if self.profile == "strict" and ("kill" in self.faults or "longpause" in self.faults):
            raise ValueError("profile strict has no kill -9 and no long pause (use --profile crash)")
        if self.nodes < 2 and set(self.faults) & {"pause", "stall", "evacuate", "rebalance", "kill", "longpause"}:
            raise ValueError("with one node only drop and kick make sense")
        if self.subs < 1 or self.topics < 1 or self.rate <= 0:
            raise ValueError("--subs, --topics and --rate must be positive")

    @property
    def down_seconds(self):
        return HEARTBEAT_MS * DOWN_AFTER / 1000.0

    def as_dict(self):
        d = dict(vars(self))
        d["faults"] = list(self.faults)
        return d


def _u(rng, lo, hi):
    return round(rng.uniform(lo, hi), 3)


def make_plan(cfg):
    """Everything random about a run, from random.Random(cfg.seed)."""
    rng = random.Random(cfg.seed)
    run = "s%d" % cfg.seed
    n = cfg.nodes
    topics = ["chaos/%s/t%d" % (run, i) for i in range(cfg.topics)]
    subs = []
    for i in range(cfg.subs):
        version = 4 if rng.random() < cfg.v311 else 5
        if rng.random() < 0.15:
            filters = [["chaos/%s/+" % run, rng.choice([1, 2])]]
        else:
            filters = [[t, rng.choice([1, 2])] for t in rng.sample(topics, rng.randint(1, min(3, len(topics))))]
        subs.append({"cid": "chaos-%s-sub%02d" % (run, i), "version": version, "filters": filters,
                     "node": rng.randrange(n), "seed": rng.getrandbits(32)})
    pubs = []
    for node in range(n):
        for qos in (1, 2):
            pubs.append({"cid": "chaos-%s-pub%d-q%d" % (run, node + 1, qos), "qos": qos,
                         "topics": rng.sample(topics, min(2, len(topics))), "node": node,
                         "seed": rng.getrandbits(32), "phase": rng.random()})
    schedule = make_schedule(rng, cfg, subs, pubs)
    latency = [rng.randint(1, 5) for _ in range(n)]   # --netns only (drawn last: the rest is the same)
    return {"run": run, "topics": topics, "subs": subs, "pubs": pubs, "schedule": schedule, "latency_ms": latency}


def make_schedule(rng, cfg, subs, pubs):
    """The fault schedule: actions {"t": seconds after the fault phase began, "a": kind, ...},
    sorted by t.

    The fault phase [2 s, duration - 2.5 s] is cut into cycles of about a minute (one cycle
    when shorter than 90 s).  A cycle runs, in this order: the node-level crash faults of the
    crash profile (one kill -9 and restart, sometimes a pause longer than the down detection;
    never two at once), then an evacuation of one node (with some of its clients taken offline
    just before so that it has sessions to migrate, and usually a migration target stalled by
    SIGSTOP for longer than the RPC timeout but shorter than the down detection), then a
    rebalance (with clients steered onto the coordinator first so that it has work to do).
    Client drops, kicks and short pauses are spread over the whole phase, short pauses
    never overlapping another fault of the same node."""
    D = cfg.duration
    n = cfg.nodes
    F0, F1 = 2.0, D - 2.5
    acts = []
    node_busy = collections.defaultdict(list)   # node -> [(a, b)] pauses and kills
    faults = set(cfg.faults)
    crash = {"kill", "longpause"} & faults and n >= 2

    def free(windows, a, b, pad=0.0):
        return all(b + pad <= x or a - pad >= y for x, y in windows)

    ncycles = 1 if D < 90 else int((F1 - F0) // 60)
    clen = (F1 - F0) / ncycles
    for k in range(ncycles):
        ca, cb = F0 + k * clen, F0 + (k + 1) * clen
        cursor = ca
        long_pause_here = False
        if crash:
            todo = []
            if "kill" in faults:
                todo.append("kill")
            if "longpause" in faults and rng.random() < 0.5:
                todo.append("longpause")
                long_pause_here = True
            rng.shuffle(todo)
            for kind in todo:
                node = rng.randrange(n)
                t = round(cursor + _u(rng, 0.0, 1.0), 3)
                if kind == "kill":
                    down = _u(rng, *KILL_DOWN)
                    acts.append({"t": t, "a": "kill", "node": node, "down": down})
                    node_busy[node].append((t, t + down + 2.0))
                    cursor = t + down + 3.0
                else:
                    dur = _u(rng, *LONG_PAUSE)
                    acts.append({"t": t, "a": "pause", "node": node, "dur": dur, "long": True})
                    node_busy[node].append((t, t + dur))
                    cursor = t + dur + 3.0
        rest = cb - cursor
        evac_stop = evac_node = None
        if "evacuate" in faults and n >= 2 and rest >= 8.0:
            x = evac_node = rng.randrange(n)
            others = [i for i in range(n) if i != x]
            targets = [rng.choice(others)] if (rng.random() < 0.6 or len(others) == 1) else list(others)
            start = round(cursor + 0.8 + _u(rng, 0.0, 0.15) * rest, 3)
            evac_stop = round(start + max(6.0, _u(rng, 0.28, 0.36) * rest), 3)
            acts.append({"t": round(start - 0.6, 3), "a": "offline", "node": x, "count": rng.randint(2, 5),
                         "hold": _u(rng, 4.0, 7.0), "pick": rng.getrandbits(32)})
            acts.append({"t": start, "a": "evac_start", "node": x, "targets": targets,
                         "redirect": rng.choice(["to", "least_loaded", "none"]),
                         "conn_rate": rng.choice([10, 20, 50]), "sess_rate": rng.choice([10, 20, 50]),
                         "wait_takeover": rng.choice([1, 2])})
            acts.append({"t": evac_stop, "a": "evac_stop", "node": x})
            if "stall" in faults and rng.random() < 0.7:
                y = rng.choice(targets)
                acts.append({"t": start, "a": "stall", "node": y, "evacuating": x, "dur": _u(rng, *STALL_PAUSE)})
                node_busy[y].append((start, evac_stop))
            cursor = evac_stop
        if "rebalance" in faults and n >= 2:
            start = round(cursor + _u(rng, 1.0, 2.0), 3) if evac_stop else round(
                cursor + _u(rng, 0.1, 0.3) * (cb - cursor), 3)
            check_at = round(start + _u(rng, 7.0, 9.0), 3)
            if check_at <= cb + 1.5 and not (long_pause_here and cb - ca < 45):
                # the coordinator gets a third to a half of the clients, so that it is a donor
                # (not the node just evacuated: its clients were just sent elsewhere)
                c = rng.choice([i for i in range(n) if i != evac_node] or [0])
                everyone = len(subs) + len(pubs)
                acts.append({"t": round(start - 1.5, 3), "a": "steer", "node": c,
                             "count": rng.randint(everyone // 3, everyone // 2), "pick": rng.getrandbits(32)})
                acts.append({"t": start, "a": "rebalance_start", "node": c,
                             "conn_rate": rng.choice([10, 20, 50]), "sess_rate": rng.choice([10, 20, 50])})
                acts.append({"t": check_at, "a": "rebalance_end", "node": c})

    if "pause" in faults:
        for _ in range(max(1, int(D // 12))):
            for _try in range(30):
                dur = _u(rng, SHORT_PAUSE[0], min(SHORT_PAUSE[1], cfg.down_seconds - 1.0))
                t = _u(rng, F0, max(F0 + 0.1, F1 - dur))
                node = rng.randrange(n)
                if free(node_busy[node], t, t + dur, pad=0.5):
                    acts.append({"t": t, "a": "pause", "node": node, "dur": dur, "long": False})
                    node_busy[node].append((t, t + dur))
                    break

    everyone = [s["cid"] for s in subs] + [p["cid"] for p in pubs]
    if "drop" in faults:
        for _ in range(int(D * cfg.drop_rate)):
            cid = rng.choice(everyone) if rng.random() < 0.25 else rng.choice(subs)["cid"]
            hold = 0.0 if rng.random() < 0.7 else _u(rng, 0.5, 3.0)
            acts.append({"t": _u(rng, F0, F1), "a": "drop", "client": cid, "hold": hold})
    if "kick" in faults:
        for _ in range(max(1, int(D // 15))):
            acts.append({"t": _u(rng, F0, F1), "a": "kick", "client": rng.choice(subs)["cid"]})
    acts.sort(key=lambda a: (a["t"], a["a"]))
    return acts


# ==========================================================================================
# Recording
# ==========================================================================================

class Recorder:
    def __init__(self, verbose=False):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.events = []
        self.recv = []
        self.verbose = verbose

    def now(self):
        return time.monotonic() - self.t0

    def ev(self, _ev, **kw):
        kind = kw["ev"] = _ev
        if "t" not in kw:
            kw["t"] = round(self.now(), 4)
        with self.lock:
            self.events.append(kw)
        if self.verbose and kind not in ("publish", "ack", "sub_effective"):
            say("%8.3f %s %s" % (kw["t"], kind, {k: v for k, v in kw.items() if k not in ("ev", "t")}))
        return kw

    def rx(self, row):
        self.recv.append(row)   # list.append is atomic under the GIL


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ==========================================================================================
# Nodes
# ==========================================================================================

class ChaosNode:
    """A ClusterNode plus what the harness did to it (paused, killed)."""

    def __init__(self, index0, cnode):
        self.i = index0
        self.cn = cnode
        self.lock = threading.Lock()
        self.paused = False
        self.killed = False
        self.resumed = threading.Event()
        self.resumed.set()

    @property
    def name(self):
        return self.cn.name

    @property
    def host(self):
        return self.cn.host

    @property
    def port(self):
        return self.cn.port

    def alive(self):
        return self.cn.alive()

    def pollable(self):
        return self.alive() and not self.paused

    def api(self, method, path, body=None, timeout=5.0):
        return self.cn.api(method, path, body, timeout=timeout)

    def pause(self):
        with self.lock:
            if self.paused or not self.alive():
                return False
            self.paused = True
            self.resumed.clear()
            os.kill(self.cn.proc.pid, signal.SIGSTOP)
            return True

    def resume(self):
        with self.lock:
            if not self.paused:
                return False
            if self.alive():
                os.kill(self.cn.proc.pid, signal.SIGCONT)
            self.paused = False
            self.resumed.set()
            return True

    def kill9(self):
        with self.lock:
            if not self.alive():
                return False
            self.killed = True
            self.cn.kill9()
            self.paused = False
            self.resumed.set()
            return True

    def restart(self):
        with self.lock:
            if self.alive():
                return False
            self.cn.start()
            self.killed = False
            return True


# ==========================================================================================
# Clients
# ==========================================================================================

class _Paho(mqtt.Client):
    """paho 1.6 drops the reason codes of PUBACK/PUBREC/PUBCOMP; keep them."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ack_rc = {}
        self.pubrec_fail = {}
        self.server_disconnect_rc = None

    def _mid_rc(self):
        pkt = self._in_packet["packet"]
        if len(pkt) < 2:
            return None, 0
        mid = struct.unpack("!H", bytes(pkt[:2]))[0]
        rc = pkt[2] if (self._protocol == mqtt.MQTTv5 and len(pkt) > 2) else 0
        return mid, rc

    def _handle_pubackcomp(self, cmd):
        mid, rc = self._mid_rc()
        if mid is not None:
            self.ack_rc[mid] = rc
        return super()._handle_pubackcomp(cmd)

    def _handle_pubrec(self):
        mid, rc = self._mid_rc()
        if mid is not None and rc >= 0x80:
            self.pubrec_fail[mid] = rc
        return super()._handle_pubrec()

    def _handle_disconnect(self):
        # paho reports a server DISCONNECT's reason code only when it has properties too
        pkt = self._in_packet["packet"]
        self.server_disconnect_rc = pkt[0] if len(pkt) >= 1 else 0
        return super()._handle_disconnect()


def _rc(rc):
    return getattr(rc, "value", rc)


REASONS = {0x8B: "server shutting down", 0x8E: "session taken over", 0x98: "kicked (0x98)",
           0x9C: "use another server (0x9C)", 0x9D: "server moved"}


class ChaosClient(threading.Thread):
    """One MQTT client in its own thread (paho's loop() runs here, and so does publishing):
    it reconnects whenever it loses its connection — to the Server Reference if it got one,
    else to a random other node — and records what it sees."""

    kind = "client"

    def __init__(self, h, spec):
        super().__init__(daemon=True, name=spec["cid"])
        self.h = h
        self.cid = spec["cid"]
        self.version = spec.get("version", 5)
        self.rng = random.Random(spec["seed"])
        self.home = spec["node"]
        self.node = None          # index of the node of the current connection
        self.last_node = spec["node"]
        self.connected = False
        self.had_session = False
        self.epoch = 0
        self.connack = None
        self.conn_lost = False
        self.next_attempt = 0.0
        self.hold_until = 0.0
        self.forced_target = None
        self.redirect = None
        self.drop_pending = None
        self.failures = 0
        self.sock_lock = threading.Lock()
        if self.version == 5:
            self.mc = _Paho(client_id=self.cid, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        else:
            self.mc = _Paho(client_id=self.cid, clean_session=False, protocol=mqtt.MQTTv311,
                            reconnect_on_failure=False)
        self.mc.on_connect = self._on_connect
        self.mc.on_disconnect = self._on_disconnect

    # callbacks (run in this thread, inside loop())
    def _on_connect(self, c, u, flags, rc, props=None):
        c.server_disconnect_rc = None
        sp = bool(flags.get("session present"))
        ref = None
        if props is not None:
            ref = getattr(props, "ServerReference", None)
        self.connack = (_rc(rc), sp, ref)
        if _rc(rc) == 0 and not sp:
            # a new session: QoS 2 receipts paho kept from the old one are void (and their
            # packet ids would swallow new messages)
            with c._in_message_mutex:
                c._in_messages.clear()

    def _on_disconnect(self, c, u, rc, props=None):
        if not self.connected:
            self.conn_lost = True
            return
        self.connected = False
        code = _rc(rc)
        ref = getattr(props, "ServerReference", None) if props is not None else None
        server_rc, c.server_disconnect_rc = c.server_disconnect_rc, None
        if self.drop_pending is not None:
            reason = self.drop_pending
        elif server_rc is not None:
            reason = REASONS.get(server_rc, "DISCONNECT 0x%02x" % server_rc)
        elif self.version == 4:
            reason = "closed by the server or lost (%s)" % code
        else:
            reason = "connection lost (%s)" % code
        self.drop_pending = None
        self.h.rec.ev("disconnected", client=self.cid, node=self.h.nodes[self.node].name, reason=reason,
                      server_reference=ref)
        target = self.h.node_by_ref(ref) if ref else None
        if target is not None:
            self.redirect = target
        now = time.monotonic()
        self.next_attempt = max(self.hold_until, now + self.rng.uniform(0.02, 0.15))
        self.last_node = self.node
        self.node = None

    # thread
    def run(self):
        try:
            self.next_attempt = time.monotonic()
            while not self.h.stop_clients.is_set():
                if self.connected:
                    self.mc.loop(timeout=self.loop_timeout())
                    if self.connected:
                        self.tick()
                else:
                    wait = self.next_attempt - time.monotonic()
                    if wait > 0:
                        self.h.stop_clients.wait(min(wait, 0.1))
                        continue
                    self.attempt(self.pick_target())
        except Exception:
            self.h.harness_error("client %s: %s" % (self.cid, traceback.format_exc()))
        finally:
            self.shut()

    def loop_timeout(self):
        return 0.05

    def tick(self):
        pass

    def pick_target(self):
        n = len(self.h.nodes)
        if self.forced_target is not None:
            t, self.forced_target = self.forced_target, None
            return t
        if self.redirect is not None:
            t, self.redirect = self.redirect, None
            return t
        others = [i for i in range(n) if i != self.last_node]
        return self.rng.choice(others) if others else self.last_node

    def fail(self, target, why):
        self.failures += 1
        self.last_node = target
        delay = min(0.05 * (2 ** min(self.failures, 5)), 1.0) * self.rng.uniform(0.5, 1.5)
        self.next_attempt = time.monotonic() + delay
        self.h.rec.ev("connect_failed", client=self.cid, node=self.h.nodes[target].name, why=why)

    def attempt(self, target):
        node = self.h.nodes[target]
        self.connack = None
        self.conn_lost = False
        try:
            with self.sock_lock:
                if self.version == 5:
                    props = mqtt.Properties(PacketTypes.CONNECT)
                    props.SessionExpiryInterval = SESSION_EXPIRY
                    self.mc.connect(node.host, node.port, keepalive=30, clean_start=False, properties=props)
                else:
                    self.mc.connect(node.host, node.port, keepalive=30)
        except (OSError, ValueError) as e:
            self.fail(target, "connect: %s" % e)
            return
        deadline = time.monotonic() + CONNACK_TIMEOUT
        while self.connack is None and not self.conn_lost and time.monotonic() < deadline \
                and not self.h.stop_clients.is_set():
            self.mc.loop(timeout=0.05)
        if self.connack is None:
            self.shut()
            self.fail(target, "connection closed before CONNACK" if self.conn_lost
                      else "no CONNACK within %.0fs" % CONNACK_TIMEOUT)
            return
        rc, sp, ref = self.connack
        if rc != 0:
            self.shut()
            t = self.h.node_by_ref(ref) if ref else None
            if t is not None and t != target:
                self.redirect = t
            self.fail(target, "CONNACK 0x%02x%s" % (rc, " ref %s" % ref if ref else ""))
            return
        self.connected = True
        self.node = target
        self.failures = 0
        self.h.rec.ev("connected", client=self.cid, node=node.name, session_present=sp, epoch=self.epoch,
                      kind=self.kind)
        self.after_connect(sp)

    def after_connect(self, sp):
        self.had_session = True

    def shut(self):
        with self.sock_lock:
            sock = self.mc.socket()
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass

    # faults
    def drop(self, hold=0.0, target=None, reason="dropped by harness"):
        """Close the TCP connection without DISCONNECT; reconnect after `hold` (to `target`)."""
        if not self.connected:
            return False
        self.hold_until = time.monotonic() + hold
        self.forced_target = target
        self.drop_pending = reason
        with self.sock_lock:
            sock = self.mc.socket()
            if sock is None:
                return False
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return False
        return True

    @property
    def node_name(self):
        return self.h.nodes[self.node].name if self.node is not None else None


class Subscriber(ChaosClient):
    kind = "sub"

    def __init__(self, h, spec):
        super().__init__(h, spec)
        self.filters = [(f, q) for f, q in spec["filters"]]
        self.subscribed = False
        self.pending_confirm = None    # (filters, owner name, since, first since)
        self.suback = {}
        self.effective_epoch = -1
        self.mc.on_message = self._on_message
        self.mc.on_subscribe = self._on_subscribe

    def _on_subscribe(self, c, u, mid, rcs, props=None):
        self.suback[mid] = [_rc(r) for r in rcs]

    def _on_message(self, c, u, m):
        t = self.h.rec.now()
        try:
            pub, seq = m.payload.decode().split("|")
            seq = int(seq)
        except (ValueError, UnicodeDecodeError):
            self.h.rec.ev("warning", text="%s: unparsable payload %r on %s" % (self.cid, m.payload[:60], m.topic))
            return
        self.h.rec.rx((round(t, 4), self.cid, self.epoch, pub, m.topic, seq, m.qos, bool(m.dup), m.mid))

    def after_connect(self, sp):
        if not sp:
            if self.had_session:
                self.epoch += 1
                self.h.rec.ev("session_reset", client=self.cid, epoch=self.epoch, node=self.node_name)
            self.subscribed = False
            self.pending_confirm = None
        self.had_session = True
        if not self.subscribed:
            self.subscribe()
        elif self.pending_confirm is not None:
            # moved before its routes were confirmed: confirm them for the new owner
            flt, _, _, first = self.pending_confirm
            self.pending_confirm = (flt, self.node_name, self.h.rec.now(), first)

    def subscribe(self):
        if self.version == 5:
            arg = [(f, SubscribeOptions(qos=q)) for f, q in self.filters]
        else:
            arg = [(f, q) for f, q in self.filters]
        rc, mid = self.mc.subscribe(arg)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            return
        deadline = time.monotonic() + SUBACK_TIMEOUT
        while mid not in self.suback and self.connected and time.monotonic() < deadline \
                and not self.h.stop_clients.is_set():
            self.mc.loop(timeout=0.05)
        codes = self.suback.pop(mid, None)
        if codes is None:
            if self.connected:
                self.h.rec.ev("warning", text="%s: no SUBACK within %.0fs on %s; reconnecting" % (
                    self.cid, SUBACK_TIMEOUT, self.node_name))
                self.drop(reason="no SUBACK")
            return
        if any(c >= 0x80 for c in codes):
            self.h.rec.ev("warning", text="%s: SUBACK %s on %s; reconnecting" % (self.cid, codes, self.node_name))
            self.drop(hold=0.5, reason="SUBACK failure")
            return
        self.subscribed = True
        self.granted = dict((f, c) for (f, _), c in zip(self.filters, codes))
        now = self.h.rec.now()
        self.pending_confirm = ([f for f, _ in self.filters], self.node_name, now, now)

    def tick(self):
        if self.pending_confirm is None:
            return
        flts, owner, since, first = self.pending_confirm
        t = self.h.monitor.confirmed(flts, owner, since)
        unconfirmed = False
        if t is None:
            if self.h.rec.now() - first < ROUTE_CONFIRM_TIMEOUT:
                return
            t, unconfirmed = self.h.rec.now(), True
            self.h.rec.ev("warning", text="%s: routes of %s -> %s not seen on every node within %.0fs" % (
                self.cid, flts, owner, ROUTE_CONFIRM_TIMEOUT))
        for f in flts:
            self.h.rec.ev("sub_effective", t=round(t, 4), client=self.cid, epoch=self.epoch, filter=f,
                          qos=self.granted.get(f), unconfirmed=unconfirmed)
        self.effective_epoch = self.epoch
        self.pending_confirm = None

    def settled(self):
        return self.connected and self.subscribed and self.pending_confirm is None


class Publisher(ChaosClient):
    kind = "pub"

    def __init__(self, h, spec):
        super().__init__(h, spec)
        self.qos = spec["qos"]
        self.topics = spec["topics"]
        self.seq = {t: 0 for t in self.topics}
        self.turn = 0
        self.pending = {}       # mid -> (topic, seq)
        self.interval = 1.0 / h.cfg.rate
        self.next_pub = None
        self.phase = spec.get("phase", 0.0)
        self.mc.on_publish = self._on_publish
        self.mc.max_inflight_messages_set(20)

    def _on_publish(self, c, u, mid):
        item = self.pending.pop(mid, None)
        rc = c.ack_rc.pop(mid, 0)
        failed_rec = c.pubrec_fail.pop(mid, None)
        if item is None:
            return
        ok = failed_rec is None and rc in (0, 0x10)
        self.h.rec.ev("ack", pub=self.cid, topic=item[0], seq=item[1], rc=failed_rec if failed_rec else rc, ok=ok)

    def after_connect(self, sp):
        if not sp and self.had_session:
            self.epoch += 1
            self.h.rec.ev("session_reset", client=self.cid, epoch=self.epoch, node=self.node_name, role="pub")
            if self.pending:
                self.h.rec.ev("pub_reset", pub=self.cid, node=self.node_name,
                              inflight=[[t, s] for t, s in self.pending.values()])
        self.had_session = True

    def loop_timeout(self):
        if not self.h.publishing.is_set() or self.next_pub is None:
            return 0.05
        return max(0.0, min(0.05, self.next_pub - time.monotonic()))

    def tick(self):
        if not self.h.publishing.is_set():
            return
        now = time.monotonic()
        if self.next_pub is None:
            self.next_pub = now + self.phase * self.interval
        if now < self.next_pub or len(self.pending) >= MAX_PENDING:
            return
        self.next_pub += self.interval
        if self.next_pub < now - 1.0:
            self.next_pub = now
        topic = self.topics[self.turn % len(self.topics)]
        self.turn += 1
        seq = self.seq[topic] + 1
        self.h.rec.ev("publish", pub=self.cid, topic=topic, seq=seq, qos=self.qos, node=self.node_name)
        info = self.mc.publish(topic, ("%s|%d" % (self.cid, seq)).encode(), self.qos)
        self.seq[topic] = seq
        self.pending[info.mid] = (topic, seq)


# ==========================================================================================
# Watching the cluster: routes (for "subscription effective") and membership
# ==========================================================================================

class Monitor(threading.Thread):
    def __init__(self, h):
        super().__init__(daemon=True, name="monitor")
        self.h = h
        self.routes = {}        # node name -> (t_start, t_end, set of (filter, owner))
        self.views = {}         # node name -> (running, stopped)

    def run(self):
        last_members = 0.0
        try:
            while not self.h.stop_monitor.is_set():
                for node in self.h.nodes:
                    if not node.pollable():
                        continue
                    t1 = self.h.rec.now()
                    try:
                        st, doc = node.api("GET", "/api/v4/routes", timeout=1.0)
                    except Exception:
                        continue
                    if st == 200 and isinstance(doc, dict) and doc.get("code") == 0:
                        self.routes[node.name] = (t1, self.h.rec.now(),
                                                  {(r["topic"], r["node"]) for r in doc.get("data", [])})
                if time.monotonic() - last_members >= 0.5 and len(self.h.nodes) > 1:
                    last_members = time.monotonic()
                    for node in self.h.nodes:
                        if not node.pollable():
                            continue
                        try:
                            st, doc = node.api("GET", "/api/v4/cluster", timeout=1.0)
                        except Exception:
                            continue
                        if st != 200 or not isinstance(doc, dict):
                            continue
                        d = doc.get("data") or {}
                        view = (tuple(d.get("running_nodes", [])), tuple(d.get("stopped_nodes", [])))
                        if self.views.get(node.name) != view:
                            if node.name in self.views or view[1]:
                                self.h.rec.ev("membership", node=node.name, running=list(view[0]),
                                              stopped=list(view[1]))
                            self.views[node.name] = view
                self.h.stop_monitor.wait(0.15)
        except Exception:
            self.h.harness_error("monitor: " + traceback.format_exc())

    def confirmed(self, filters, owner, since):
        """When every running node has listed filter -> owner for each filter in a poll begun
        after `since`; None if not yet."""
        t = since
        for node in self.h.nodes:
            if not node.alive():
                continue
            snap = self.routes.get(node.name)
            if snap is None or snap[0] < since:
                return None
            for f in filters:
                if (f, owner) not in snap[2]:
                    return None
            t = max(t, snap[1])
        return t


# ==========================================================================================
# The run
# ==========================================================================================

class SetupError(RuntimeError):
    pass


# ==========================================================================================
# --netns: every node in its own network namespace
# ==========================================================================================

class NetnsLayout:
    """Node i runs in namespace <tag>n<i> with address 10.77.<k>.<i>, on a veth pair whose other
    end is on a bridge <tag>br in the harness's namespace (address 10.77.<k>.254), where the
    clients and the admin API calls come from.  Each node's veth gets a netem delay of 1-5 ms
    (seeded) when the kernel has sch_netem; without it the run goes on with namespaces and no
    added latency, and says so.  Everything created is recorded and removed by teardown()."""

    def __init__(self, seed, n, latency_ms):
        self.n = n
        self.tag = "cx%04x" % ((os.getpid() ^ (seed * 2654435761)) & 0xFFFF)
        self.net = "10.77.%d" % (20 + (os.getpid() + seed) % 200)
        self.latency_ms = list(latency_ms[:n])
        self.latency_note = None
        self.namespaces = []
        self.links = []

    def ip(self, *args, ns=None, check=True):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise SetupError("%s: %s" % (" ".join(cmd), r.stderr.decode("utf-8", "replace").strip()))
        return r

    def bridge(self):
        return self.tag + "br"

    def ns(self, i):
        return "%sn%d" % (self.tag, i)

    def host(self, i):
        return "%s.%d" % (self.net, i)

    def setup(self):
        if os.geteuid() != 0 or shutil.which("ip") is None:
            raise SetupError("--netns needs root and iproute2 (ip)")
        br = self.bridge()
        self.ip("ip", "link", "add", br, "type", "bridge")
        self.links.append(br)
        self.ip("ip", "addr", "add", "%s.254/24" % self.net, "dev", br)
        self.ip("ip", "link", "set", br, "up")
        for i in range(1, self.n + 1):
            ns, outside, inside = self.ns(i), "%sh%d" % (self.tag, i), "%sv%d" % (self.tag, i)
            self.ip("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            self.ip("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            self.links.append(outside)
            self.ip("ip", "link", "set", inside, "netns", ns)
            self.ip("ip", "link", "set", outside, "master", br)
            self.ip("ip", "link", "set", outside, "up")
            self.ip("ip", "addr", "add", "%s/24" % self.host(i), "dev", inside, ns=ns)
            self.ip("ip", "link", "set", inside, "up", ns=ns)
            self.ip("ip", "link", "set", "lo", "up", ns=ns)
            if self.latency_note is None:
                r = self.ip("tc", "qdisc", "add", "dev", inside, "root", "netem", "delay",
                            "%dms" % self.latency_ms[i - 1], ns=ns, check=False)
                if r.returncode != 0:
                    self.latency_note = "netem unavailable (%s): no added latency" % (
                        r.stderr.decode("utf-8", "replace").strip())
        if self.latency_note is not None:
            say("--netns: " + self.latency_note)

    def describe(self):
        return {"subnet": self.net + ".0/24", "bridge": self.bridge(), "namespaces": list(self.namespaces),
                "latency_ms": None if self.latency_note else self.latency_ms, "latency_note": self.latency_note}

    def build_cluster(self, workdir, settings):
        ch, _ = integration()
        layout = self

        class NetnsClusterNode(ch.ClusterNode):
            def command(self):
                return ["ip", "netns", "exec", self.ns] + super().command()

        cluster = ch.Cluster(workdir)
        nodes = []
        for i in range(1, self.n + 1):
            node = NetnsClusterNode(i, cluster.workdir / ("node%d" % i), settings, cookie=cluster.cookie)
            # a namespace of its own: fixed ports, its own address
            node.ns = layout.ns(i)
            node.host = layout.host(i)
            node.name = "tidemq%d@%s" % (i, node.host)
            node.port, node.admin_port, node.cluster_port = 1883, 8081, 4370
            cluster.members[i] = node
            nodes.append(node)
        for node in nodes:
            node.seed_refs = [o for o in nodes if o is not node]
        return cluster

    def teardown(self):
        for ns in reversed(self.namespaces):
            self.ip("ip", "netns", "del", ns, check=False)
        for link in reversed(self.links):
            if os.path.exists("/sys/class/net/" + link):
                self.ip("ip", "link", "del", link, check=False)
        self.namespaces, self.links = [], []


class Harness:
    def __init__(self, cfg, workdir=None, keep=False):
        self.cfg = cfg
        self.plan = make_plan(cfg)
        self.rec = Recorder(verbose=cfg.verbose)
        self.stop_clients = threading.Event()
        self.stop_monitor = threading.Event()
        self.stop_faults = threading.Event()
        self.publishing = threading.Event()
        self.errors = []
        self.keep = keep
        self.own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tidemq-chaos-%d-" % cfg.seed))
        self.cluster = None
        self.nodes = []
        self.clients = {}
        self.subs = []
        self.pubs = []
        self.monitor = Monitor(self)
        self.helpers = []
        self.open_faults = {}
        self.sessions = []
        self.netns = None

    # helpers
    def harness_error(self, text):
        self.errors.append(text)
        self.rec.ev("harness_error", text=text[-2000:])

    def node_by_ref(self, ref):
        if not ref:
            return None
        for part in str(ref).split():
            host, _, port = part.rpartition(":")
            for n in self.nodes:
                if n.host == host and str(n.port) == port:
                    return n.i
        return None

    def log(self, msg):
        say("[chaos seed=%d %7.2fs] %s" % (self.cfg.seed, self.rec.now(), msg))

    # setup
    def start_cluster(self):
        ch, conftest = integration()
        if not conftest.TIDEMQ_BIN.exists():
            raise SetupError("tidemq binary not found at %s (set TIDEMQ_BIN)" % conftest.TIDEMQ_BIN)
        settings = {
            "cluster.down_after": DOWN_AFTER,
            "cluster.heartbeat_interval": ch.toml_str("%dms" % HEARTBEAT_MS),
            "cluster.rpc_timeout": ch.toml_str("%dms" % RPC_TIMEOUT_MS),
            # an offline subscriber must not lose messages to a full queue (default 1000)
            "mqtt.max_mqueue_len": MAX_MQUEUE_LEN,
        }
        n = self.cfg.nodes
        if self.cfg.netns:
            self.netns = NetnsLayout(self.cfg.seed, n, self.plan["latency_ms"])
            self.netns.setup()      # torn down in run()'s finally, whatever happens
            self.cluster = self.netns.build_cluster(self.workdir / "cluster", settings)
            self.rec.ev("netns", **self.netns.describe())
            self.log("network namespaces: %s" % self.netns.describe())
        else:
            self.cluster = ch.build_cluster(self.workdir / "cluster", n, seeds=n > 1, settings=settings)
        try:
            self.cluster.start()
        except Exception as e:
            raise SetupError("cluster did not start: %s" % e)
        self.nodes = [ChaosNode(i, cn) for i, cn in enumerate(self.cluster.nodes)]
        if n > 1:
            try:
                ch.wait_cluster(self.cluster.nodes, running=n, timeout=20)
            except AssertionError as e:
                raise SetupError("cluster did not form: %s" % e)
        self.log("cluster of %d up: %s (binary %s)" % (n, ", ".join(
            "%s mqtt %d admin %d" % (x.name, x.port, x.cn.admin_port) for x in self.nodes), conftest.TIDEMQ_BIN))

    def start_clients(self):
        for spec in self.plan["subs"]:
            s = Subscriber(self, spec)
            self.subs.append(s)
            self.clients[s.cid] = s
        for spec in self.plan["pubs"]:
            p = Publisher(self, spec)
            self.pubs.append(p)
            self.clients[p.cid] = p
        for s in self.subs:
            s.forced_target = s.home
            s.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(s.settled() for s in self.subs):
            if self.errors:
                raise SetupError("harness error during setup:\n" + self.errors[0])
            time.sleep(0.05)
        if not all(s.settled() for s in self.subs):
            bad = [s.cid for s in self.subs if not s.settled()]
            raise SetupError("subscribers not subscribed with routes on every node after 30 s: %s" % bad)
        self.log("%d subscribers subscribed, routes seen on every node" % len(self.subs))
        for p in self.pubs:
            p.forced_target = p.home
            p.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(p.connected for p in self.pubs):
            time.sleep(0.05)
        if not all(p.connected for p in self.pubs):
            raise SetupError("publishers not connected after 15 s")
        self.publishing.set()
        self.log("%d publishers publishing at %.1f msg/s each" % (len(self.pubs), self.cfg.rate))

    # faults
    def run_faults(self):
        t_start = time.monotonic()
        self.rec.ev("faults_begin")
        for a in self.plan["schedule"]:
            due = t_start + a["t"]
            while not self.stop_faults.is_set():
                wait = due - time.monotonic()
                if wait <= 0:
                    break
                self.stop_faults.wait(min(wait, 0.2))
            if self.stop_faults.is_set():
                return
            try:
                getattr(self, "act_" + a["a"])(a)
            except Exception:
                self.harness_error("fault %r: %s" % (a, traceback.format_exc()))
        end = t_start + self.cfg.duration
        while not self.stop_faults.is_set() and time.monotonic() < end:
            self.stop_faults.wait(min(end - time.monotonic(), 0.2))

    def fault(self, kind, **kw):
        return self.rec.ev("fault", kind=kind, **kw)

    def spawn(self, fn, *args):
        th = threading.Thread(target=self._guard, args=(fn,) + args, daemon=True)
        self.helpers.append(th)
        th.start()

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception:
            self.harness_error("helper %s: %s" % (fn.__name__, traceback.format_exc()))

    def wait_resumed(self, node, timeout=4.0):
        node.resumed.wait(timeout)

    def act_drop(self, a):
        c = self.clients[a["client"]]
        node = c.node_name
        done = c.drop(hold=a["hold"])
        self.fault("drop", client=c.cid, node=node, hold=a["hold"], done=done)

    def act_kick(self, a):
        cid = a["client"]
        owner = None
        for n in self.nodes:
            if not n.pollable():
                continue
            try:
                st, doc = n.api("GET", "/api/v4/clients/" + cid, timeout=2.0)
            except Exception:
                continue
            if st == 200 and isinstance(doc, dict) and doc.get("data"):
                owner = doc["data"][0].get("node")
                break
        done = False
        result = "owner not found"
        t = round(self.rec.now(), 4)
        for n in self.nodes:
            if n.name == owner and n.pollable():
                try:
                    st, doc = n.api("DELETE", "/api/v4/clients/" + cid, timeout=2.0)
                    result = "HTTP %s %s" % (st, doc)
                    done = st == 200
                except Exception as e:
                    result = repr(e)
        self.fault("kick", t=t, client=cid, node=owner, done=done, result=str(result)[:200])

    def act_pause(self, a):
        node = self.nodes[a["node"]]
        if not node.pause():
            self.fault("pause", node=node.name, done=False, long=a["long"], why="not running or already paused")
            return
        t = self.rec.now()
        self.spawn(self._resume_after, node, a["dur"], t, a["long"], False)

    def _resume_after(self, node, dur, t, long, stall):
        self.stop_faults.wait(dur)   # holding the fault for its duration
        node.resume()
        self.fault("pause", node=node.name, t=round(t, 4), t_end=round(self.rec.now(), 4), long=long, stall=stall,
                   dur=dur)

    def act_kill(self, a):
        node = self.nodes[a["node"]]
        if not node.kill9():
            self.fault("kill", node=node.name, done=False)
            return
        t = self.rec.now()
        self.spawn(self._restart_after, node, a["down"], t)

    def _restart_after(self, node, down, t):
        self.stop_faults.wait(down)
        try:
            node.restart()
        except Exception as e:
            self.harness_error("restart of %s failed: %s" % (node.name, e))
        self.fault("kill", node=node.name, t=round(t, 4), t_end=round(self.rec.now(), 4), down=down)

    def act_offline(self, a):
        """Take some subscribers of a node offline for a while, so that it has offline sessions
        (evacuation migrates those)."""
        node = self.nodes[a["node"]]
        cands = sorted(s.cid for s in self.subs if s.connected and s.node == node.i)
        pick = random.Random(a["pick"]).sample(cands, min(a["count"], len(cands)))
        for cid in pick:
            c = self.clients[cid]
            done = c.drop(hold=a["hold"], reason="taken offline by harness")
            self.fault("drop", client=cid, node=node.name, hold=a["hold"], done=done, offline=True)

    def act_steer(self, a):
        """Move some clients to one node (so that a rebalance has something to do)."""
        node = self.nodes[a["node"]]
        cands = sorted(c.cid for c in self.clients.values() if c.connected and c.node != node.i)
        pick = random.Random(a["pick"]).sample(cands, min(a["count"], len(cands)))
        for cid in pick:
            done = self.clients[cid].drop(target=node.i, reason="steered by harness")
            self.fault("drop", client=cid, to=node.name, done=done, steer=True)

    def act_evac_start(self, a):
        node = self.nodes[a["node"]]
        targets = [self.nodes[i] for i in a["targets"]]
        body = {"conn_evict_rate": a["conn_rate"], "sess_evict_rate": a["sess_rate"],
                "wait_takeover": a["wait_takeover"], "wait_health_check": 0,
                "migrate_to": [t.name for t in targets]}
        if a["redirect"] == "to":
            body["redirect_to"] = "%s:%d" % (targets[0].host, targets[0].port)
        elif a["redirect"] == "least_loaded":
            body["redirect_policy"] = "least_loaded"
        result, ok = self.start_fault("evacuation", node, "evacuation/start", body)
        self.log("evacuation of %s -> %s: %s" % (node.name, body["migrate_to"], result))
        if not ok:
            self.rec.ev("warning", text="evacuation start on %s failed: %s" % (node.name, result))

    def start_fault(self, kind, node, path, body):
        """POSTs /api/v4/load_rebalance/{node}/<path> once `node` runs, and records the open fault."""
        self.wait_resumed(node)
        try:
            result = node.api("POST", "/api/v4/load_rebalance/%s/%s" % (node.name, path), body)
        except Exception as e:
            result = repr(e)
        ok = isinstance(result, tuple) and result[1] == {"code": 0, "data": []}
        self.open_faults[kind] = {"node": node.name, "t": self.rec.now(), "body": body, "start": str(result),
                                  "started": ok}
        return result, ok

    def act_evac_stop(self, a):
        node = self.nodes[a["node"]]
        f = self.open_faults.pop("evacuation", None)
        result = self.stop_evacuation(node)
        if f is not None:
            self.fault("evacuation", node=f["node"], t=round(f["t"], 4), t_end=round(self.rec.now(), 4),
                       options=f["body"], start=f["start"], stop=result, done=f["started"])
        self.log("evacuation of %s stopped: %s" % (node.name, result))

    def stop_evacuation(self, node):
        status = None
        for _ in range(5):
            self.wait_resumed(node)
            try:
                status = self.local_status(node)
                if status.get("process") == "evacuation":
                    st, doc = node.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % node.name, {})
                    return "state %s; stop: HTTP %s %s" % (status.get("state"), st, doc)
                return "not running (%s)" % status
            except Exception as e:
                status = repr(e)
                time.sleep(0.5)   # the node may be restarting: try again, 5 times at most
        return "stop failed: %s" % status

    def local_status(self, node):
        st, doc = node.api("GET", "/api/v4/load_rebalance/status", timeout=3.0)
        return doc if isinstance(doc, dict) else {}

    def act_stall(self, a):
        self.spawn(self._stall, a)

    def _stall(self, a):
        """Pause a migration target as soon as the evacuating node migrates sessions."""
        src, node = self.nodes[a["evacuating"]], self.nodes[a["node"]]
        deadline = time.monotonic() + 12
        state = None
        while time.monotonic() < deadline and not self.stop_faults.is_set():
            try:
                state = self.local_status(src).get("state")
            except Exception:
                state = None
            if state in ("evicting_sessions", "prohibiting"):
                break
            self.stop_faults.wait(0.05)
        if state != "evicting_sessions":
            self.fault("pause", node=node.name, stall=True, done=False,
                       why="evacuation never in evicting_sessions (last state %s)" % state)
            return
        if not node.pause():
            self.fault("pause", node=node.name, stall=True, done=False, why="not running or already paused")
            return
        self._resume_after(node, a["dur"], self.rec.now(), False, True)

    def act_rebalance_start(self, a):
        node = self.nodes[a["node"]]
        body = {"conn_evict_rate": a["conn_rate"], "sess_evict_rate": a["sess_rate"], "wait_health_check": 0,
                "wait_takeover": 1, "abs_conn_threshold": 2, "rel_conn_threshold": 1.1,
                "abs_sess_threshold": 2, "rel_sess_threshold": 1.1}
        result, _ = self.start_fault("rebalance", node, "start", body)
        self.log("rebalance coordinated by %s: %s" % (node.name, result))

    def act_rebalance_end(self, a):
        node = self.nodes[a["node"]]
        f = self.open_faults.pop("rebalance", None)
        result = self.end_rebalance(node)
        if f is not None:
            self.fault("rebalance", node=f["node"], t=round(f["t"], 4), t_end=round(self.rec.now(), 4),
                       options=f["body"], start=f["start"], end=result, done=f["started"])
        self.log("rebalance: %s" % result)

    def end_rebalance(self, node):
        self.wait_resumed(node)
        try:
            st = self.local_status(node)
        except Exception as e:
            return "status failed: %r" % (e,)
        if st.get("status") == "disabled":
            return "finished: %s" % st.get("last_result")
        try:
            s, doc = node.api("POST", "/api/v4/load_rebalance/%s/stop" % node.name, {})
            return "still running (%s), stopped: HTTP %s %s" % (st.get("state"), s, doc)
        except Exception as e:
            return "still running, stop failed: %r" % (e,)

    # quiescence
    def quiesce(self):
        self.stop_faults.set()
        for th in self.helpers:
            th.join(15)
        for n in self.nodes:
            if n.paused:
                n.resume()
            if not n.alive():
                self.log("restarting %s for the check" % n.name)
                n.restart()
        if "evacuation" in self.open_faults:
            f = self.open_faults.pop("evacuation")
            node = [n for n in self.nodes if n.name == f["node"]][0]
            res = self.stop_evacuation(node)
            self.fault("evacuation", node=f["node"], t=round(f["t"], 4), t_end=round(self.rec.now(), 4),
                       options=f["body"], start=f["start"], stop=res, done=f["started"])
        if "rebalance" in self.open_faults:
            f = self.open_faults.pop("rebalance")
            node = [n for n in self.nodes if n.name == f["node"]][0]
            res = self.end_rebalance(node)
            self.fault("rebalance", node=f["node"], t=round(f["t"], 4), t_end=round(self.rec.now(), 4),
                       options=f["body"], start=f["start"], end=res, done=f["started"])
        # make sure no node stays evacuated (a restart resumes a persisted evacuation)
        for n in self.nodes:
            try:
                if self.local_status(n).get("process") == "evacuation":
                    self.stop_evacuation(n)
            except Exception:
                pass
        self.rec.ev("quiesce_begin")
        ch, _ = integration()
        if len(self.nodes) > 1:
            try:
                ch.wait_cluster(self.cluster.nodes, running=len(self.nodes), timeout=20)
            except AssertionError as e:
                self.rec.ev("warning", text="cluster not whole again after the faults: %s" % str(e)[:500])
        self.publishing.clear()
        t = time.monotonic()
        while time.monotonic() - t < 20 and any(p.pending for p in self.pubs):
            time.sleep(0.1)
        left = {p.cid: len(p.pending) for p in self.pubs if p.pending}
        if left:
            self.rec.ev("warning", text="publishers still waiting for acks after 20 s: %s" % left)
        t = time.monotonic()
        while time.monotonic() - t < 30 and not all(s.settled() for s in self.subs):
            time.sleep(0.1)
        for s in self.subs:
            if not s.connected:
                self.rec.ev("not_reconnected", client=s.cid)
            elif not s.settled():
                self.rec.ev("warning", text="%s connected but its subscription is not settled" % s.cid)
        # deliveries: until the receipt count has not changed for 2 s (bounded)
        t = time.monotonic()
        last, since = -1, time.monotonic()
        while time.monotonic() - t < 30:
            n = len(self.rec.recv)
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 2.0:
                break
            time.sleep(0.1)
        self.rec.ev("quiesced", receipts=len(self.rec.recv))
        self.log("quiesced: %d receipts" % len(self.rec.recv))
        # sessions, twice, 1 s apart: a session still being handed off shows up in one listing only
        self.sessions.append(self.list_sessions())
        time.sleep(1.0)
        self.sessions.append(self.list_sessions())

    def paged(self, node, path):
        """Every row of a paged v4 listing on `node` (bounded: 50 pages of 200)."""
        rows = []
        for page in range(1, 51):
            try:
                st, doc = node.api("GET", "%s?_page=%d&_limit=200" % (path, page), timeout=5.0)
            except Exception as e:
                self.rec.ev("warning", text="GET %s on %s failed: %r" % (path, node.name, e))
                break
            if st != 200 or not isinstance(doc, dict) or doc.get("code") != 0:
                self.rec.ev("warning", text="GET %s on %s: HTTP %s %s" % (path, node.name, st, str(doc)[:200]))
                break
            rows += doc.get("data", [])
            if not (doc.get("meta") or {}).get("hasnext"):
                break
        return rows

    def list_sessions(self):
        """Each node's own sessions (GET /api/v4/clients on that node) and, as a diagnosis,
        their subscriptions (GET /api/v4/subscriptions)."""
        out = {"t": round(self.rec.now(), 3), "nodes": {}, "subscriptions": {}}
        for n in self.nodes:
            rows = []
            for c in self.paged(n, "/api/v4/clients"):
                if c.get("node") != n.name:
                    self.rec.ev("warning", text="%s lists %s with node %s" % (n.name, c.get("clientid"), c.get("node")))
                rows.append([c.get("clientid"), bool(c.get("connected"))])
            out["nodes"][n.name] = rows
            out["subscriptions"][n.name] = [[x.get("clientid"), x.get("topic"), x.get("qos")]
                                            for x in self.paged(n, "/api/v4/subscriptions")]
        return out

    # the whole run
    def log_dict(self):
        clients = {}
        for s in self.subs:
            clients[s.cid] = {"kind": "sub", "version": s.version, "filters": [list(f) for f in s.filters]}
        for p in self.pubs:
            clients[p.cid] = {"kind": "pub", "version": p.version, "qos": p.qos, "topics": p.topics}
        return {"meta": {"profile": self.cfg.profile, "down_seconds": self.cfg.down_seconds,
                         "crash_margin": CRASH_MARGIN, "seed": self.cfg.seed, "config": self.cfg.as_dict()},
                "clients": clients, "events": list(self.rec.events), "recv": list(self.rec.recv),
                "sessions": self.sessions, "schedule": self.plan["schedule"]}

    def run(self):
        """-> (report dict, log dict).  Raises SetupError when the run could not be made."""
        t_wall = time.monotonic()
        try:
            self.start_cluster()
            self.monitor.start()
            self.start_clients()
            self.log("fault phase: %.0fs, %d scheduled actions" % (self.cfg.duration, len(self.plan["schedule"])))
            self.run_faults()
            self.quiesce()
        finally:
            self.stop_faults.set()
            self.stop_clients.set()
            for c in list(self.clients.values()):
                if c.is_alive():
                    c.join(5)
            self.stop_monitor.set()
            if self.monitor.is_alive():
                self.monitor.join(5)
            for th in self.helpers:
                th.join(5)
            for n in self.nodes:
                if n.paused:
                    n.resume()
            if self.cluster is not None:
                self.cluster.kill_all()
            if self.netns is not None:
                self.netns.teardown()
        log = self.log_dict()
        report = check(log)
        report["seed"] = self.cfg.seed
        report["config"] = self.cfg.as_dict()
        report["schedule"] = self.plan["schedule"]
        report["executed_faults"] = [e for e in self.rec.events if e["ev"] == "fault"]
        report["wall_seconds"] = round(time.monotonic() - t_wall, 1)
        report["harness_errors"] = self.errors
        report["workdir"] = str(self.workdir)
        report["binary"] = str(integration()[1].TIDEMQ_BIN)
        report["replay"] = replay_command(self.cfg)
        return report, log

    def cleanup(self, keep):
        if keep:
            return
        shutil.rmtree(str(self.workdir), ignore_errors=True)


def replay_command(cfg):
    cmd = "/usr/bin/python3 tests/chaos/chaos.py --seed %d --duration %g --nodes %d --profile %s" % (
        cfg.seed, cfg.duration, cfg.nodes, cfg.profile)
    default = Config(nodes=cfg.nodes, profile=cfg.profile)
    if tuple(cfg.faults) != tuple(default.faults):
        cmd += " --faults " + ",".join(cfg.faults)
    for opt, attr in (("--subs", "subs"), ("--rate", "rate"), ("--topics", "topics"), ("--v311", "v311"),
                      ("--drop-rate", "drop_rate")):
        if getattr(cfg, attr) != getattr(default, attr):
            cmd += " %s %g" % (opt, getattr(cfg, attr))
    if cfg.netns:
        cmd += " --netns"
    return cmd


def run_chaos(cfg, workdir=None, keep=None, save_log=None):
    """Library entry point: one chaos run.  Returns the report (dict; report["ok"]).
    Raises SetupError (or ValueError for a bad config)."""
    cfg.validate()
    h = Harness(cfg, workdir=workdir)
    try:
        report, log = h.run()
    except BaseException:
        h.log("run failed; node logs kept in %s" % h.workdir)
        raise
    if save_log:
        with open(save_log, "w") as f:
            json.dump(log, f)
    failed = not report["ok"] or report["harness_errors"]
    if keep is None:
        keep = bool(failed)
    report["workdir_kept"] = keep
    if keep:
        # the checker's input, next to the node logs: `chaos.py --check-log <workdir>/events.json`
        with open(str(h.workdir / "events.json"), "w") as f:
            json.dump(log, f)
        with open(str(h.workdir / "report.json"), "w") as f:
            json.dump(report, f, indent=1)
    h.cleanup(keep)
    return report


def _binary_copy_cleanup():
    try:
        _, conftest = integration()
        if conftest._binary_copy is not None:
            shutil.rmtree(str(conftest._binary_copy.parent), ignore_errors=True)
            conftest._binary_copy = None
    except Exception:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="tidemq chaos test (see tests/chaos/README.md)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of faults (default 30)")
    ap.add_argument("--nodes", type=int, default=3, help="3 or 4 (1 or 2 for sanity runs)")
    ap.add_argument("--profile", choices=["strict", "crash"], default="strict")
    ap.add_argument("--out", help="write the JSON report here")
    ap.add_argument("--faults", help="comma-separated fault kinds (default: all of the profile): "
                    + ",".join(ALL_FAULTS))
    ap.add_argument("--subs", type=int, default=24, help="subscribers (default 24)")
    ap.add_argument("--rate", type=float, default=8.0, help="messages/s per publisher (2 publishers per node)")
    ap.add_argument("--topics", type=int, default=6)
    ap.add_argument("--v311", type=float, default=0.2, help="fraction of MQTT 3.1.1 subscribers")
    ap.add_argument("--drop-rate", type=float, default=0.5, help="client drops per second of faults")
    ap.add_argument("--workdir", help="where nodes keep data and logs (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (kept anyway on violations)")
    ap.add_argument("--save-log", help="write the recorded events (the checker's input) here")
    ap.add_argument("--check-log", help="only run the checker on a log saved with --save-log")
    ap.add_argument("--netns", action="store_true", help="nodes in network namespaces (see README)")
    ap.add_argument("--verbose", "-v", action="store_true")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return EXIT_SETUP if e.code else EXIT_OK
    if args.check_log:
        try:
            with open(args.check_log) as f:
                log = json.load(f)
        except (OSError, ValueError) as e:
            say("cannot read %s: %s" % (args.check_log, e))
            return EXIT_SETUP
        rep = check(log)
        print(format_report(rep))
        if args.out:
            with open(args.out, "w") as f:
                json.dump(rep, f, indent=1)
        return EXIT_OK if rep["ok"] else EXIT_VIOLATIONS
    # SIGTERM unwinds like Ctrl-C: nodes killed, namespaces removed, in the finally blocks
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    faults = tuple(x for x in args.faults.split(",") if x) if args.faults else None
    cfg = Config(seed=args.seed, duration=args.duration, nodes=args.nodes, profile=args.profile, subs=args.subs,
                 v311=args.v311, topics=args.topics, rate=args.rate, faults=faults, drop_rate=args.drop_rate,
                 verbose=args.verbose, netns=args.netns)
    try:
        cfg.validate()
    except ValueError as e:
        say("usage error: %s" % e)
        return EXIT_SETUP
    try:
        rep = run_chaos(cfg, workdir=args.workdir, keep=True if args.keep else None, save_log=args.save_log)
    except SetupError as e:
        say("setup error: %s" % e)
        return EXIT_SETUP
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_SETUP
    finally:
        _binary_copy_cleanup()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rep, f, indent=1)
    print("seed %d, %d nodes, profile %s, %.0fs of faults, wall %.0fs%s" % (
        cfg.seed, cfg.nodes, cfg.profile, cfg.duration, rep["wall_seconds"],
        ("; node logs kept in " + rep["workdir"]) if rep["workdir_kept"] else ""))
    print("replay: " + rep["replay"])
    print(format_report(rep))
    if rep["harness_errors"]:
        print("HARNESS ERRORS (the run is not trustworthy):")
        for e in rep["harness_errors"][:5]:
            print(e)
        return EXIT_SETUP
    return EXIT_OK if rep["ok"] else EXIT_VIOLATIONS


if __name__ == "__main__":
    sys.exit(main())
