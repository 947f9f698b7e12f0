#!/usr/bin/python3
"""Session migration benchmark: how fast does an evacuation move offline
sessions to another node, and does any QoS 1 message get lost on the way?

Starts two clustered tidemq nodes on 127.0.0.1 and 127.0.0.2, creates `--sessions`
offline persistent sessions (each subscribed at QoS 1 to one topic) on node 1,
then evacuates node 1 to node 2 at an unlimited session rate, while a publisher on
node 2 sends QoS 1 messages at `--publish-rate` msg/s to that topic.  It reports
sessions/s and, after the move, reconnects every session on node 2 and checks
that each received every message published (none lost; duplicates only with DUP).

    /usr/bin/python3 tools/bench/migration_throughput.py --sessions 10000 --publish-rate 1000
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import mqttraw  # noqa: E402
import benchutil  # noqa: E402
from benchutil import free_port, wait  # noqa: E402

PERSIST = {"SessionExpiryInterval": 3600}


class Node:
    def __init__(self, i, binary, seeds, cookie):
        self.host = "127.0.0.%d" % i
        self.name = "bench%d@%s" % (i, self.host)
        self.port, self.admin, self.cport = free_port(self.host), free_port(self.host), free_port(self.host)
        self.binary, self.seeds, self.cookie = binary, seeds, cookie
        self.work = tempfile.mkdtemp(prefix="tidemq-migbench-")

    def start(self, seeds):
        self.proc = subprocess.Popen(
            [self.binary, "--config", str(REPO / "conf" / "tidemq.conf"), "--set", "node.data_dir=%s" % self.work,
             "--set", "log.level=warning", "--set", "node.name=%s" % self.name,
             "--set", "listeners.tcp.default.bind=%s:%d" % (self.host, self.port),
             "--set", "management.listener.http.bind=%s:%d" % (self.host, self.admin),
             "--set", "cluster.bind=%s:%d" % (self.host, self.cport), "--set", "cluster.cookie=%s" % self.cookie,
             "--set", "mqtt.max_mqueue_len=100000",
             "--set", "cluster.static.seeds=[%s]" % ",".join('"%s"' % s for s in seeds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def api(self, method, path, body=None):
        return benchutil.api(self.host, self.admin, method, path, body, timeout=30)

    def sessions(self):
        return self.api("GET", "/api/v4/stats")[1]["data"][0]["sessions.count"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--publish-rate", type=int, default=1000)
    ap.add_argument("--bin", default=str(REPO / "build" / "src" / "tidemq"))
    args = ap.parse_args()

    n1, n2 = Node(1, args.bin, [], "bench"), Node(2, args.bin, [], "bench")
    n1.start(["%s:%d" % (n2.name, n2.cport)])
    n2.start(["%s:%d" % (n1.name, n1.cport)])
    try:
        wait(lambda: len(n1.api("GET", "/api/v4/cluster")[1]["data"]["running_nodes"]) == 2, 15, "cluster")
        t = time.monotonic()
        for i in range(args.sessions):
            c = mqttraw.RawClient(n1.host, n1.port)
            c.connect("mig-%06d" % i, clean=False, props=dict(PERSIST))
            c.subscribe([("bench/s/%d" % i, 1)])
            c.disconnect()
            c.close()
        print("created %d offline sessions on node 1 in %.1f s" % (args.sessions, time.monotonic() - t))
        last = "bench/s/%d" % (args.sessions - 1)
        wait(lambda: any(r["node"] == n1.name and r["topic"] == last for r in n2.api("GET", "/api/v4/routes")[1]["data"]),
             10, "routes")

        published, stop = [], threading.Event()

        def publisher():
            pub = mqttraw.RawClient(n2.host, n2.port)
            pub.connect("mig-publisher")
            k, start = 0, time.monotonic()
            while not stop.is_set():
                pub.publish_acked("bench/s/%d" % (k % args.sessions), b"m%07d" % k)
                published.append(k % args.sessions)
                k += 1
                lag = start + k / args.publish_rate - time.monotonic()
                if lag > 0:
                    time.sleep(lag)  # pacing the publisher, not synchronising
            pub.close()

        th = threading.Thread(target=publisher)
        th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name,
                              {"conn_evict_rate": 2147483647, "sess_evict_rate": 2147483647, "wait_takeover": 0,
                               "migrate_to": [n2.name]})
        assert body == {"code": 0, "data": []}, body
        first_move = None
        deadline = time.monotonic() + 600
        while True:
            left = n1.sessions()
            now = time.monotonic()
            if first_move is None and left < args.sessions:
                first_move = now
            # Done when node 2 holds every session: node 1's count drops at export, before the import.
            if (left == 0 and n2.sessions() >= args.sessions) or now > deadline:
                break
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        moving = time.monotonic() - (first_move or t0)
        time.sleep(0.5)
        stop.set()
        th.join()
        print("migrated %d sessions in %.2f s after the start (%.2f s from the first move to the last): %.0f sessions/s" % (
            args.sessions, elapsed, moving, args.sessions / max(moving, 1e-3)))
        # Every session must hold every message published: all are queued (the sessions are offline),
        # so the queue length of each, on node 2, must be exactly the number published.
        expected = [0] * args.sessions
        for i in published:
            expected[i] += 1
        wrong = []
        for i in range(args.sessions):
            info = n2.api("GET", "/api/v4/clients/mig-%06d" % i)[1]["data"]
            queued = info[0]["mqueue_len"] + info[0]["inflight"] if info else -1
            if queued != expected[i]:
                wrong.append((i, queued, expected[i]))
        print("publisher sent %d QoS 1 messages during the move; sessions with a different count: %d %s" % (
            len(published), len(wrong), wrong[:5]))
        metrics = n1.api("GET", "/metrics")
        print("node 1 audit:", [l for l in (metrics[1] or b"").decode().splitlines()
                                if l.startswith("tidemq_rebalance_messages_lost_total") or
                                l.startswith("tidemq_rebalance_sessions_migrated_total")])
    finally:
        for n in (n1, n2):
            n.proc.terminate()
            n.proc.wait(timeout=10)


if __name__ == "__main__":
    main()
