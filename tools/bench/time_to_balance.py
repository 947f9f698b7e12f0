#!/usr/bin/python3
"""Rebalance benchmark: how long does a cluster rebalance take to even out
connections, against the ideal `wait_health_check + conn phase + wait_takeover + session phase`?

Starts `--nodes` clustered tidemq nodes on 127.0.0.1..N, connects a `tidemq_bench fleet`
of MQTT 5 devices with persistent sessions (`--per-node` on each node but the last, 0 on the
last), waits until all are connected, then starts a rebalance with node 1 as coordinator and
polls `global_status` and the per-node connection counts every `--poll` seconds.  Evicted
devices reconnect like devices behind a load balancer: a DISCONNECT/CONNACK 0x9C without a
Server Reference sends them to another node, picked at random after a 0-200 ms delay.

Reports the time until the rebalance ended (its `last_result`), until the counts were within
the thresholds, the final counts, the totals before/after, and the ideal figures.

    /usr/bin/python3 tools/bench/time_to_balance.py --per-node 1000            # quick
    /usr/bin/python3 tools/bench/time_to_balance.py --per-node 10000 --runs 3  # 3x10 000 + 0

The fleet is split over several processes (each below the RLIMIT_NOFILE hard limit).
Every process started here is stopped on exit, also on Ctrl-C and errors (and, via
PR_SET_PDEATHSIG, if this script is killed).
"""

import argparse
import ctypes
import datetime
import http.client
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
import benchutil  # noqa: E402
from benchutil import free_port, wait  # noqa: E402
FLEET_FD_BUDGET = 64  # descriptors a fleet process keeps for itself


def child_setup():
    """Runs in each child before exec: die with this script, use the whole descriptor allowance."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Node:
    def __init__(self, i, binary, logdir, log_level):
        self.i = i
        self.host = "127.0.0.%d" % i
        self.name = "ttb%d@%s" % (i, self.host)
        self.port, self.admin, self.cport = free_port(self.host), free_port(self.host), free_port(self.host)
        self.binary, self.log_level = binary, log_level
        self.work = tempfile.mkdtemp(prefix="node%d-" % i, dir=logdir)
        self.proc = None

    def start(self, peers):
        seeds = ",".join('"%s:%d"' % (p.name, p.cport) for p in peers if p is not self)
        self.log = open(os.path.join(self.work, "node.log"), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--config", str(REPO / "conf" / "tidemq.conf"), "--set", "node.data_dir=%s" % self.work,
             "--set", "log.level=%s" % self.log_level, "--set", "node.name=%s" % self.name,
             "--set", "listeners.tcp.default.bind=%s:%d" % (self.host, self.port),
             "--set", "management.listener.http.bind=%s:%d" % (self.host, self.admin),
             "--set", "cluster.bind=%s:%d" % (self.host, self.cport), "--set", "cluster.cookie=ttb",
             "--set", "cluster.static.seeds=[%s]" % seeds],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=child_setup)

    def api(self, method, path, body=None, timeout=5):
        return benchutil.api(self.host, self.admin, method, path, body, timeout)


class Fleet:
    """One tidemq_bench fleet process; a reader thread keeps its last status line."""

    def __init__(self, k, bench, nodes, counts, args, logdir):
        spec = ",".join("%s:%d=%d" % (n.host, n.port, c) for n, c in zip(nodes, counts))
        self.clients = sum(counts)
        self.logf = open(os.path.join(logdir, "fleet%d.jsonl" % k), "w")
        self.proc = subprocess.Popen(
            [bench, "fleet", "--nodes", spec, "--prefix", "ttb%d" % k, "--conn-rate", str(args.conn_rate / args.fleets),
             "--duration", str(args.timeout + 600), "--reconnect-delay", args.reconnect_delay,
             "--session-expiry", "3600", "--keepalive", "60", "--report-interval", "0.2"],
            stdout=subprocess.PIPE, stderr=self.logf, text=True, preexec_fn=child_setup)
        self.last, self.final, self.reconnect = None, None, None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.logf.write(line)
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("type") in ("status", "start"):
                self.last = rec
            elif rec.get("type") == "final":
                self.final = self.last = rec
            elif rec.get("type") == "reconnect_ms":
                self.reconnect = rec


def fleet_sum(fleets, key):
    if any(f.last is None for f in fleets):
        return None
    if key == "connected":
        return [sum(v) for v in zip(*(f.last["connected"] for f in fleets))]
    return sum(f.last[key] for f in fleets)


def within(v, g, abs_t, rel_t):
    """The balance predicate (inclusive; docs/rebalance.md, "Donors, recipients and thresholds")."""
    return v <= g + abs_t or v <= g * rel_t


def split(counts):
    """Donors are the nodes at or above the mean (exact integer comparison)."""
    s, n = sum(counts), len(counts)
    donors = [i for i, c in enumerate(counts) if c * n >= s]
    return donors, [i for i in range(n) if i not in donors]


def avg(counts, idx):
    return sum(counts[i] for i in idx) / len(idx) if idx else 0.0


def ideal(counts, rate, abs_t, rel_t):
    """Ideal connection-phase figures, every evicted client reconnecting to a recipient at once.

    excess: Σ over donors of (count − mean).  Each donor evicts up to `rate` per 1 s tick, in
    parallel (batches without overshoot, docs/rebalance.md "Batch sizes"), so the phase takes max(count − mean)/rate.
    moves: the smallest number of moves that meets the thresholds (fewer than the excess).
    ticks: the tick that first sees the counts within the thresholds (first tick at 0 s).
    """
    donors, recips = split(counts)
    mean = sum(counts) / len(counts)
    excess = sum(counts[d] - mean for d in donors)
    nd, nr = len(donors), len(recips)
    dc, rc = avg(counts, donors), avg(counts, recips)
    x_abs = (dc - rc - abs_t) * nd * nr / (nd + nr)
    x_rel = (dc - rel_t * rc) * nd * nr / (nr + rel_t * nd)
    moves = max(0.0, min(x_abs, x_rel))
    # Tick simulation (the coordinator's nodes_to_evict: min(rate, ceil(count − mean)) per donor).
    c = list(counts)
    ticks = 0
    while not within(avg(c, donors), avg(c, recips), abs_t, rel_t) and ticks < 100000:
        s, n = sum(c), len(c)
        moved = 0
        for d in donors:
            need = max(0, math.ceil((c[d] * n - s) / n))
            take = min(rate, need)
            c[d] -= take
            moved += take
        for j, r in enumerate(recips):
            c[r] += moved // nr + (1 if j < moved % nr else 0)
        ticks += 1
    return {"excess": excess, "excess_per_donor": max(counts[d] - mean for d in donors),
            "t_excess": max(counts[d] - mean for d in donors) / rate, "moves": moves,
            "t_moves": moves / nd / rate, "t_ticks": float(ticks), "donors": donors, "recipients": recips}


def proc_usage(pid):
    """(RSS MiB, CPU seconds) of a process, from /proc."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, cpu
    except (OSError, StopIteration, IndexError):
        return float("nan"), float("nan")


def node_counts(coord, nodes):
    """Connections and sessions per node, in node order (GET /api/v4/nodes on the coordinator)."""
    st, body = coord.api("GET", "/api/v4/nodes")
    by = {e["node"]: e for e in body["data"]}
    return ([by[n.name].get("connections", 0) for n in nodes], [by[n.name].get("sessions", 0) for n in nodes])


def one_run(args, run_no, logdir):
    nodes = [Node(i, args.bin, logdir, args.log_level) for i in range(1, args.nodes + 1)]
    procs, fleets = [], []
    try:
        for n in nodes:
            n.start(nodes)
            procs.append(n.proc)
        coord = nodes[0]
        wait(lambda: all(len(n.api("GET", "/api/v4/cluster")[1]["data"]["running_nodes"]) == len(nodes)
                         for n in nodes), 30, "cluster of %d" % len(nodes))

        # The fleet: --per-node on nodes 1..N-1, 0 on node N, split over processes below the fd limit.
        layout = [args.per_node] * (len(nodes) - 1) + [0]
        total = sum(layout)
        per_proc = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - FLEET_FD_BUDGET - 2000  # margin for churn
        args.fleets = max(1, math.ceil(total / per_proc))
        for k in range(args.fleets):
            counts = [c // args.fleets + (1 if k < c % args.fleets else 0) for c in layout]
            fleets.append(Fleet(k, args.bench, nodes, counts, args, logdir))
            procs.append(fleets[-1].proc)
        t = time.monotonic()
        wait(lambda: node_counts(coord, nodes)[0] == layout and fleet_sum(fleets, "total") == total,
             total / args.conn_rate + 60, "all %d clients connected" % total, step=0.5)
        print("run %d: %d clients connected in %.1f s: %s" % (run_no, total, time.monotonic() - t, layout), flush=True)
        time.sleep(1)
        conns0, sess0 = node_counts(coord, nodes)
        usage0 = {p.pid: proc_usage(p.pid) for p in procs}
        ideal_conn = ideal(conns0, args.rate, args.abs_conn_threshold, args.rel_conn_threshold)
        donors, recips = ideal_conn["donors"], ideal_conn["recipients"]
        failed0 = fleet_sum(fleets, "failed")

        body = {"nodes": [n.name for n in nodes], "conn_evict_rate": args.rate, "sess_evict_rate": args.rate,
                "wait_health_check": args.wait_health_check, "wait_takeover": args.wait_takeover,
                "abs_conn_threshold": args.abs_conn_threshold, "rel_conn_threshold": args.rel_conn_threshold,
                "abs_sess_threshold": args.abs_conn_threshold, "rel_sess_threshold": args.rel_conn_threshold}
        t0, t0_wall = time.monotonic(), time.time()
        st, rep = coord.api("POST", "/api/v4/load_rebalance/%s/start" % coord.name, body, timeout=30)
        if rep != {"code": 0, "data": []}:
            raise RuntimeError("start refused: HTTP %d %s" % (st, rep))

        phases = {}           # state -> first time seen
        t_end = t_within = t_settled = None
        last_result, samples, status_errors = None, [], 0
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            now = time.monotonic() - t0
            try:
                _, gs = coord.api("GET", "/api/v4/load_rebalance/global_status")
                conns, sess = node_counts(coord, nodes)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                status_errors += 1
                time.sleep(args.poll)
                continue
            mine = [r for r in gs.get("rebalances", []) if r.get("coordinator_node") == coord.name]
            state = mine[0]["state"] if mine else None
            if state and state not in phases:
                phases[state] = now
            samples.append({"t": round(now, 3), "state": state, "conns": conns, "sessions": sess,
                            "fleet": fleet_sum(fleets, "connected")})
            if t_within is None and within(avg(conns, donors), avg(conns, recips),
                                           args.abs_conn_threshold, args.rel_conn_threshold):
                t_within = now
            if t_settled is None and t_within is not None and sum(conns) == total:
                t_settled = now
            if t_end is None and not mine:
                t_end = now
                _, cs = coord.api("GET", "/api/v4/load_rebalance/status")
                last_result = cs.get("last_result") if isinstance(cs, dict) else cs
            if t_end is not None and (t_settled is not None or now > t_end + 30):
                break
            time.sleep(args.poll)
        if t_end is None:
            raise RuntimeError("the rebalance did not end within %d s; last sample %s" % (args.timeout, samples[-1:]))

        # Let stragglers reconnect, then the final picture.
        wait(lambda: sum(node_counts(coord, nodes)[0]) == total, 30, "all clients back")
        time.sleep(1)
        conns1, sess1 = node_counts(coord, nodes)
        usage1 = {p.pid: proc_usage(p.pid) for p in procs}
        # Exact times: the coordinator's finished_at (wall clock, ms) and the fleet's own eviction and
        # reconnect timestamps (CLOCK_MONOTONIC, as time.monotonic()), both relative to the start request.
        t_finished = None
        if last_result and last_result.get("finished_at"):
            fin = datetime.datetime.strptime(last_result["finished_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            t_finished = fin.replace(tzinfo=datetime.timezone.utc).timestamp() - t0_wall

        def fleet_time(key, pick):
            v = [f.last[key] for f in fleets if f.last and f.last.get(key)]
            return pick(v) - t0 if v else None
        res = {
            "run": run_no, "per_node": args.per_node, "before": conns0, "sessions_before": sess0, "after": conns1,
            "sessions_after": sess1, "total_before": sum(conns0), "total_after": sum(conns1),
            "phases": phases, "t_end": t_end, "t_finished": t_finished,
            "t_first_evicted": fleet_time("first_evicted", min), "t_last_evicted": fleet_time("last_evicted", max),
            "t_last_reconnect": fleet_time("last_reconnect", max), "t_within": t_within, "t_settled": t_settled,
            "last_result": last_result, "ideal": ideal_conn, "status_errors": status_errors,
            "fleet": {k: fleet_sum(fleets, k) for k in ("evicted", "refused", "redirects", "reconnects",
                                                         "session_present", "dropped", "failed", "timeouts")},
            "fleet_failed_before": failed0,
            "reconnect_ms": [],  # filled in when the fleets have exited (their last line)
            "usage": {("node%d" % n.i): (usage1[n.proc.pid][0], usage1[n.proc.pid][1] - usage0[n.proc.pid][1])
                      for n in nodes},
            "fleet_usage": [(usage1[f.proc.pid][0], usage1[f.proc.pid][1] - usage0[f.proc.pid][1]) for f in fleets],
            "samples": samples,
        }
    finally:
        for p in reversed(procs):  # fleets first, then the nodes
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in fleets:  # the final lines (reconnect latency) arrive at exit
            f.thread.join(timeout=5)
    res["reconnect_ms"] = [f.reconnect for f in fleets]
    return res


def fmt_t(v):
    return "-" if v is None else "%.1f" % v


def fmt_t3(v):
    return "-" if v is None else "%.2f" % v


def report(args, runs):
    whc, wt = args.wait_health_check, args.wait_takeover
    idl = runs[0]["ideal"]
    ideal_excess = whc + idl["t_excess"] + wt
    ideal_ticks = whc + idl["t_ticks"] + wt
    print()
    print("ideal: excess %.0f connections (%.0f per donor) at %d/s per donor = %.2f s; threshold needs %.0f moves = %.2f s; "
          "tick model: balanced at the tick at %.0f s" % (idl["excess"], idl["excess_per_donor"], args.rate,
                                                          idl["t_excess"], idl["moves"], idl["t_moves"], idl["t_ticks"]))
    print("ideal total = wait_health_check %d + %.2f + wait_takeover %d + sessions 0 = %.2f s (tick model %.2f s)" % (
        whc, idl["t_excess"], wt, ideal_excess, ideal_ticks))
    print()
    hdr = ("run", "finished_at (s)", "end seen (s)", "within (s)", "all back (s)", "1st/last eviction (s)",
           "last reconnect (s)", "health", "conns", "takeover+sess", "result",
           "before", "after", "evicted", "refused", "reconn p50/p99/max ms")
    print(" | ".join(hdr))
    for r in runs:
        ph = r["phases"]

        def span(a, b):  # from the first poll that saw state a to the first that saw b (or the end)
            if a not in ph:
                return "-"
            end = ph.get(b, r["t_end"]) if b else r["t_end"]
            return "%.1f" % (end - ph[a])
        rec = [x for x in r["reconnect_ms"] if x]
        lat = "/".join(str(max(x[k] for x in rec)) for k in ("p50", "p99", "max")) if rec else "-"
        lr = r["last_result"] or {}
        print(" | ".join([str(r["run"]), fmt_t3(r["t_finished"]), fmt_t(r["t_end"]), fmt_t(r["t_within"]),
                          fmt_t(r["t_settled"]), "%s/%s" % (fmt_t3(r["t_first_evicted"]), fmt_t3(r["t_last_evicted"])),
                          fmt_t3(r["t_last_reconnect"]),
                          span("wait_health_check", "evicting_conns"), span("evicting_conns", "wait_takeover"),
                          span("wait_takeover", None),
                          "%s%s" % (lr.get("result", "?"), (" (" + lr["reason"] + ")") if lr.get("reason") else ""),
                          "%s=%d" % (r["before"], r["total_before"]), "%s=%d" % (r["after"], r["total_after"]),
                          str(r["fleet"]["evicted"]), str(r["fleet"]["refused"]), lat]))
    ends = [r["t_finished"] if r["t_finished"] is not None else r["t_end"] for r in runs]
    print()
    print("median end %.1f s vs ideal %.2f s: +%.1f s (%.0f%%)" % (
        statistics.median(ends), ideal_excess, statistics.median(ends) - ideal_excess,
        100 * (statistics.median(ends) - ideal_excess) / ideal_excess))
    for r in runs:
        print("run %d: sessions before %s after %s; fleet %s; node RSS MiB / CPU s during the run %s; fleet %s" % (
            r["run"], r["sessions_before"], r["sessions_after"], r["fleet"],
            {k: "%.0f/%.1f" % v for k, v in r["usage"].items()}, ["%.0f/%.1f" % v for v in r["fleet_usage"]]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-node", type=int, default=10000, help="clients on each node but the last (default 10000)")
    ap.add_argument("--nodes", type=int, default=4, help="cluster size; the last node starts empty (default 4)")
    ap.add_argument("--rate", type=int, default=500, help="conn_evict_rate = sess_evict_rate (default 500)")
    ap.add_argument("--wait-health-check", type=int, default=5)
    ap.add_argument("--wait-takeover", type=int, default=5)
    ap.add_argument("--abs-conn-threshold", type=int, default=100, help="also abs_sess_threshold (default 100)")
    ap.add_argument("--rel-conn-threshold", type=float, default=1.1, help="also rel_sess_threshold (default 1.1)")
    ap.add_argument("--reconnect-delay", default="0-200", help="fleet reconnect delay, ms MIN-MAX (default 0-200)")
    ap.add_argument("--conn-rate", type=float, default=2000, help="initial connects per second, whole fleet")
    ap.add_argument("--poll", type=float, default=0.2, help="status poll period, s (default 0.2)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=300, help="seconds a rebalance may take (default 300)")
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--bin", default=str(REPO / "build" / "src" / "tidemq"))
    ap.add_argument("--bench", default=str(REPO / "build" / "tools" / "bench" / "tidemq_bench"))
    ap.add_argument("--logdir", help="where node data, node logs and fleet output go (default: a new temp dir)")
    ap.add_argument("--json", help="write every run's results (with the 200 ms samples) to this file")
    args = ap.parse_args()
    if args.nodes < 2 or args.per_node < 1:
        ap.error("need at least 2 nodes and 1 client per node")

    logdir = args.logdir or tempfile.mkdtemp(prefix="tidemq-ttb-")
    os.makedirs(logdir, exist_ok=True)
    print("logs in %s" % logdir, flush=True)
    # SIGTERM behaves like Ctrl-C (also when started in the background, where SIGINT comes ignored),
    # so the finally blocks stop every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    runs = []
    try:
        for k in range(1, args.runs + 1):
            rundir = os.path.join(logdir, "run%d" % k)
            os.makedirs(rundir, exist_ok=True)
            r = one_run(args, k, rundir)
            runs.append(r)
            print("run %d: ended at %.1f s (%s), within thresholds at %s s, all back at %s s, phases %s" % (
                k, r["t_end"], r["last_result"], fmt_t(r["t_within"]), fmt_t(r["t_settled"]),
                {s: round(t, 1) for s, t in r["phases"].items()}), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print("error: %s (logs in %s)" % (e, logdir), file=sys.stderr)
        return 1
    finally:
        if args.json and runs:
            with open(args.json, "w") as f:
                json.dump(runs, f, indent=1)
    report(args, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
