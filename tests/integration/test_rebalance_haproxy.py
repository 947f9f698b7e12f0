"""Evacuation behind a real HAProxy (docs/rebalance.md, "availability_check"): HAProxy
balances MQTT over three nodes and health-checks each with
`GET /api/v4/load_rebalance/availability_check` on its admin port, as the EMQX 4.4 docs set it
up. An evacuated node answers 503 from the start of its `wait_health_check`, so HAProxy takes it
out of rotation before it refuses anyone; its evicted clients come back through HAProxy to the
other nodes with their sessions, and none is refused on the way. After `stop` the node answers 200 and gets new clients again."""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import mqttraw
from clusterhelpers import cluster, free_ports, poll, pytestmark_cluster  # noqa: F401
from mqttraw import DISCONNECT

pytestmark = [pytestmark_cluster,
              pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy missing (Debian package haproxy)")]

LB_HOST = "127.0.0.10"
PERSIST = {"SessionExpiryInterval": 300}
CHECK_MS = 100  # HAProxy health-check interval; one failed check takes a server out


class HAProxy:
    """haproxy -db (foreground) in TCP mode, round-robin over the nodes' MQTT listeners."""

    def __init__(self, nodes):
        self.port, = free_ports(LB_HOST, 1)
        self.dir = Path(tempfile.mkdtemp(prefix="tidemq-haproxy-"))
        servers = "\n".join(
            "  server %s %s:%d check port %d" % (n.name.split("@")[0], n.host, n.port, n.admin_port) for n in nodes)
        self.stats = self.dir / "stats.sock"
        (self.dir / "haproxy.cfg").write_text(f"""global
  maxconn 1000
  stats socket {self.stats} level user
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend mqtt
  bind {LB_HOST}:{self.port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /api/v4/load_rebalance/availability_check
  http-check expect status 200
  default-server inter {CHECK_MS}ms fall 1 rise 1
{servers}
""")
        self.log = open(self.dir / "haproxy.log", "w")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def server_states(self):
        """-> {server name: "UP" | "DOWN" | ...} from the stats socket ("show stat" CSV)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.stats))
            s.sendall(b"show stat\n")
            text = b""
            while chunk := s.recv(65536):
                text += chunk
        lines = text.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "nodes" and r["svname"] != "BACKEND"}

    def wait_states(self, want, timeout=10.0):
        def check():
            try:
                states = self.server_states()
            except OSError:
                return False, "no stats socket yet"
            return all(states.get(k, "").startswith(v) for k, v in want.items()), states
        return poll(check, timeout, "HAProxy server states %r" % want)

    def connect(self, cid):
        """A persistent MQTT 5 session through the load balancer; -> (client, CONNACK)."""
        c = mqttraw.RawClient(LB_HOST, self.port)
        return c, c.connect(cid, clean=False, props=dict(PERSIST))

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def connections(node):
    return node.data("/api/v4/stats")[0]["connections.count"]


def availability(node):
    return node.api("GET", "/api/v4/load_rebalance/availability_check")[0]


def test_evacuation_behind_haproxy(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    lb = HAProxy([n1, n2, n3])
    clients = {}
    try:
        # every server up: HAProxy spreads new clients round-robin over all three
        lb.wait_states({"tidemq1": "UP", "tidemq2": "UP", "tidemq3": "UP"})
        for i in range(30):
            cl, ack = lb.connect("lb-%02d" % i)
            assert ack.rc == 0, ack
            cl.subscribe([("lb/%02d" % i, 1)])
            clients["lb-%02d" % i] = cl
        before = [connections(n) for n in (n1, n2, n3)]
        assert sum(before) == 30 and all(count > 0 for count in before), before

        # Evacuate node 1. Its health check fails at once; it refuses and evicts only after
        # wait_health_check, by which time HAProxy has stopped sending clients there.
        body = {"conn_evict_rate": 50, "sess_evict_rate": 50, "wait_health_check": 1, "wait_takeover": 1,
                "migrate_to": [n2.name, n3.name]}
        status, resp = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name, body)
        assert (status, resp) == (200, {"code": 0, "data": []}), resp
        assert availability(n1) == 503
        lb.wait_states({"tidemq1": "DOWN", "tidemq2": "UP", "tidemq3": "UP"}, timeout=0.9)  # within wait_health_check

        # Each evicted client reconnects through HAProxy, as a device would.
        refused, moved = [], 0
        deadline = time.monotonic() + 20
        while moved < before[0] or any(cl is None for cl in clients.values()):
            assert time.monotonic() < deadline, "clients still on node 1 or not back: %r" % [connections(n) for n in (n1, n2, n3)]
            for cid, cl in list(clients.items()):
                if cl is not None:
                    try:
                        d = cl.expect(DISCONNECT, timeout=0.02)
                    except (mqttraw.Timeout, mqttraw.Closed):
                        continue
                    assert d.rc == 0x9C, d
                    cl.close()
                new, ack = lb.connect(cid)
                if ack.rc != 0:
                    refused.append((cid, ack.rc))
                    new.close()
                    clients[cid] = None
                    continue
                assert ack.session_present, (cid, ack)
                clients[cid] = new
                moved += 1
        assert refused == [], "HAProxy sent reconnects to the evacuated node: %r" % refused
        after = [connections(n) for n in (n1, n2, n3)]
        assert after[0] == 0 and sum(after) == 30, after

        # a message to every client, wherever it is now
        pub, ack = lb.connect("lb-pub")
        for cid in clients:
            pub.publish_acked("lb/" + cid[3:], cid.encode())
        for cid, cl in clients.items():
            p = cl.expect(mqttraw.PUBLISH, timeout=5)
            assert p.payload == cid.encode(), p
            cl.puback(p.pid)
        pub.close()

        # stop: node 1 is healthy again and HAProxy gives it new clients
        status, resp = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
        assert resp == {"code": 0, "data": []}, resp
        assert availability(n1) == 200
        lb.wait_states({"tidemq1": "UP"})
        fresh = []

        def node1_gets_clients_again():
            cl, ack = lb.connect("lb-fresh-%d" % len(fresh))
            assert ack.rc == 0, ack
            fresh.append(cl)
            return connections(n1) > 0, [connections(n) for n in (n1, n2, n3)]
        poll(node1_gets_clients_again, 10.0, "HAProxy sends new clients to node 1 again")
        for cl in fresh:
            cl.close()
    finally:
        for cl in clients.values():
            if cl is not None:
                cl.close()
        lb.close()
