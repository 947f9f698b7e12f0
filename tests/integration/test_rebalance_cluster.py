"""Cluster rebalance (issue 5, spec §2) on real nodes: a coordinator splits the
nodes into donors and recipients, donors evict connections (clients reconnect
elsewhere, as they would through a load balancer) and then migrate offline
sessions, until the counts are within the thresholds; the total is unchanged.
A donor or coordinator that dies aborts the run and every donor is released."""

import select
import time

import pytest

import mqttraw
from clusterhelpers import cluster, poll, pytestmark_cluster  # noqa: F401
from mqttraw import DISCONNECT

pytestmark = pytestmark_cluster

OPTS = {"conn_evict_rate": 50, "sess_evict_rate": 50, "wait_health_check": 1, "wait_takeover": 1,
        "abs_conn_threshold": 3, "rel_conn_threshold": 1.1, "abs_sess_threshold": 3, "rel_sess_threshold": 1.1}


class Fleet:
    """Clients that reconnect to the next node (round-robin) when the server drops them."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.clients = {}   # client id -> (RawClient, node index)
        self.next = 0

    def connect(self, cid, index):
        c = mqttraw.RawClient(self.nodes[index].host, self.nodes[index].port)
        ack = c.connect(cid, keepalive=60)
        assert ack.rc == 0, ack
        self.clients[cid] = (c, index)

    def serve(self, duration):
        """Reads every socket for `duration` seconds; a dropped client reconnects elsewhere."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            socks = {c.sock: cid for cid, (c, _) in self.clients.items()}
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for s in ready:
                cid = socks[s]
                c, index = self.clients[cid]
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data and DISCONNECT << 4 != data[0] & 0xF0:
                    continue
                c.close()
                target = (index + 1 + self.next) % len(self.nodes)
                self.next += 1
                if target == index:
                    target = (target + 1) % len(self.nodes)
                self.connect(cid, target)

    def per_node(self):
        counts = [0] * len(self.nodes)
        for _, index in self.clients.values():
            counts[index] += 1
        return counts

    def close(self):
        for c, _ in self.clients.values():
            c.close()


def node_connections(node):
    return node.data("/api/v4/stats")[0]["connections.count"]


def test_rebalance_moves_connections_until_within_thresholds(cluster):
    c = cluster(3)
    nodes = c.nodes
    fleet = Fleet(nodes)
    try:
        for i in range(45):
            fleet.connect("rb-%02d" % i, 0)
        assert [node_connections(n) for n in nodes] == [45, 0, 0]
        status, body = nodes[1].api("POST", "/api/v4/load_rebalance/%s/start" % nodes[0].name, OPTS)
        assert (status, body) == (200, {"code": 0, "data": []}), body
        status, body = nodes[0].api("POST", "/api/v4/load_rebalance/%s/start" % nodes[0].name, OPTS)
        assert (status, body["code"], body["message"]) == (200, 400, "already_started"), body
        # the donor answers 503 to load balancers while the run lasts
        assert nodes[0].api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503
        deadline = time.monotonic() + 25
        result = None
        while time.monotonic() < deadline:
            fleet.serve(0.3)
            st = nodes[0].api("GET", "/api/v4/load_rebalance/status")[1]
            if st.get("status") == "disabled" and "last_result" in st:
                result = st["last_result"]
                break
        assert result is not None and result["result"] == "completed", result
        fleet.serve(0.5)
        counts = [node_connections(n) for n in nodes]
        print("connections per node after the rebalance:", counts, "result:", result)
        assert counts[0] < 45, counts  # something moved
        assert sum(counts) == 45, counts
        avg_recipients = (counts[1] + counts[2]) / 2
        assert counts[0] - avg_recipients <= OPTS["abs_conn_threshold"] or counts[0] <= avg_recipients * 1.1, counts
        assert nodes[0].api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200
    finally:
        fleet.close()


def test_rebalance_nothing_to_balance_and_not_started(cluster):
    c = cluster(2)
    n1 = c[1]
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, OPTS)
    assert (status, body) == (200, {"code": 400, "message": "nothing_to_balance"}), body
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/stop" % n1.name, {})
    assert (status, body) == (200, {"code": 400, "message": "not_started"}), body


def test_rebalance_aborts_when_a_donor_dies(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    clients = []
    try:
        for i in range(30):
            cl = mqttraw.RawClient(n2.host, n2.port)
            cl.connect("ab-%02d" % i)
            clients.append(cl)
        opts = dict(OPTS, wait_health_check=30)  # stays in wait_health_check: nothing moves yet
        status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, opts)
        assert body == {"code": 0, "data": []}, body
        assert n2.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503
        n2.kill9()
        st = poll(lambda: (lambda s: ("last_result" in s, s))(n1.api("GET", "/api/v4/load_rebalance/status")[1]), 10.0,
                  "the coordinator aborts")
        assert st["last_result"]["result"] == "aborted" and n2.name in (st["last_result"]["reason"] or ""), st
    finally:
        for cl in clients:
            cl.close()


def test_donors_are_released_when_the_coordinator_dies(cluster):
    c = cluster(3)
    n1, n2 = c[1], c[2]
    clients = []
    try:
        for i in range(30):
            cl = mqttraw.RawClient(n2.host, n2.port)
            cl.connect("cd-%02d" % i)
            clients.append(cl)
        opts = dict(OPTS, wait_health_check=30)
        status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, opts)
        assert body == {"code": 0, "data": []}, body
        assert n2.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503
        t0 = time.monotonic()
        n1.kill9()
        poll(lambda: (n2.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200, None), 8.0,
             "the donor is released")
        assert time.monotonic() - t0 <= 5.5
    finally:
        for cl in clients:
            cl.close()
