#!/usr/bin/python3
"""Eviction pacing benchmark: how evenly does an evacuation spread its
connection evictions over each second?

Starts one tidemq node on loopback, connects `--clients` MQTT 5 clients, starts an
evacuation at `--rate` connections/second and records when each client receives
its DISCONNECT (0x9C).  Prints the number of evictions in every 100 ms window and
the largest one, next to the bound the issue sets (0.15·rate + 1; EMQX evicts a
whole second's batch at once, i.e. up to `rate` in one window).

    /usr/bin/python3 tools/bench/eviction_pacing.py --rate 100 --clients 300
    /usr/bin/python3 tools/bench/eviction_pacing.py --rate 1000 --clients 3000
"""

import argparse
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import mqttraw  # noqa: E402
from benchutil import free_port  # noqa: E402
import benchutil  # noqa: E402


def api(port, method, path, body=None):
    return benchutil.api("127.0.0.1", port, method, path, body)




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--bin", default=str(REPO / "build" / "src" / "tidemq"))
    args = ap.parse_args()

    mqtt_port, admin_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="tidemq-pacing-")
    node = subprocess.Popen([args.bin, "--config", str(REPO / "conf" / "tidemq.conf"),
                             "--set", "node.data_dir=%s" % work, "--set", "log.level=warning",
                             "--set", "listeners.tcp.default.bind=127.0.0.1:%d" % mqtt_port,
                             "--set", "management.listener.http.bind=127.0.0.1:%d" % admin_port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", mqtt_port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the node did not start")
                time.sleep(0.05)
        for i in range(args.clients):
            c = mqttraw.RawClient("127.0.0.1", mqtt_port)
            assert c.connect("pace-%05d" % i, keepalive=0).rc == 0
            c.sock.setblocking(False)
            clients.append(c)
        t0 = time.monotonic()
        status, body = api(admin_port, "POST", "/api/v4/load_rebalance/tidemq@127.0.0.1/evacuation/start",
                           {"conn_evict_rate": args.rate, "sess_evict_rate": args.rate})
        assert body == {"code": 0, "data": []}, body
        times = []
        sel = selectors.DefaultSelector()  # epoll: thousands of sockets
        for c in clients:
            sel.register(c.sock, selectors.EVENT_READ)
        left = len(clients)
        limit = time.monotonic() + args.clients / args.rate * 2 + 10
        while left and time.monotonic() < limit:
            events = sel.select(timeout=0.05)
            now = time.monotonic()
            for key, _ in events:
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data[:1] == bytes([mqttraw.DISCONNECT << 4]) or not data:
                    times.append(now - t0)
                    sel.unregister(s)
                    s.close()
                    left -= 1
        api(admin_port, "POST", "/api/v4/load_rebalance/tidemq@127.0.0.1/evacuation/stop", {})
    finally:
        node.terminate()
        node.wait(timeout=10)
        for c in clients:
            try:
                c.sock.close()
            except OSError:
                pass

    windows = Counter(int(t * 10) for t in times)
    first, last = min(windows), max(windows)
    series = [windows.get(w, 0) for w in range(first, last + 1)]
    bound = 0.15 * args.rate + 1
    busy = series[:-1] if len(series) > 1 else series  # the last window is partial
    print("rate %d/s, %d clients evicted in %.2f s (ideal %.2f s)" % (
        args.rate, len(times), max(times) - min(times), len(times) / args.rate))
    print("evictions per 100 ms window: max %d, median %d, min %d (bound 0.15*r+1 = %.1f; a whole-second batch would be %d)" % (
        max(series), sorted(busy)[len(busy) // 2], min(busy), bound, args.rate))
    hist = Counter(series)
    print("histogram (evictions in a window: number of windows):",
          ", ".join("%d: %d" % (k, hist[k]) for k in sorted(hist)))
    print("windows over the bound: %d of %d" % (sum(1 for x in series if x > bound), len(series)))


if __name__ == "__main__":
    main()
