"""Cluster rebalance (docs/rebalance.md, "Rebalance states") on real nodes: a coordinator
splits the nodes into donors and recipients, donors evict connections (clients reconnect
elsewhere, as they would through a load balancer) and then migrate offline
sessions, until the counts are within the thresholds; the total is unchanged.
A donor or coordinator that dies aborts the run and every donor is released."""

import time

import pytest

import mqttraw
from clusterhelpers import Fleet, cluster, poll, pytestmark_cluster  # noqa: F401

pytestmark = pytestmark_cluster

OPTS = {"conn_evict_rate": 50, "sess_evict_rate": 50, "wait_health_check": 1, "wait_takeover": 1,
        "abs_conn_threshold": 3, "rel_conn_threshold": 1.1, "abs_sess_threshold": 3, "rel_sess_threshold": 1.1}


def node_connections(node):
    return node.data("/api/v4/stats")[0]["connections.count"]


@pytest.mark.parametrize("layout", [[45, 0, 0], [15, 15, 15, 0]], ids=["45+0+0", "3x15+0"])
def test_rebalance_moves_connections_until_within_thresholds(cluster, layout):
    c = cluster(len(layout))
    nodes = c.nodes
    total = sum(layout)
    fleet = Fleet(nodes, try_next_on_refusal=True)
    try:
        k = 0
        for index, n in enumerate(layout):
            for _ in range(n):
                fleet.connect("rb-%02d" % k, index)
                k += 1
        assert [node_connections(n) for n in nodes] == layout
        coordinator = nodes[0]
        status, body = nodes[1].api("POST", "/api/v4/load_rebalance/%s/start" % coordinator.name, OPTS)
        assert (status, body) == (200, {"code": 0, "data": []}), body
        status, body = coordinator.api("POST", "/api/v4/load_rebalance/%s/start" % coordinator.name, OPTS)
        assert (status, body["code"], body["message"]) == (200, 400, "already_started"), body
        # donors answer 503 to load balancers while the run lasts
        donors = [n for n, count in zip(nodes, layout) if count > total / len(layout)]
        assert all(d.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503 for d in donors)
        deadline = time.monotonic() + 25
        result = None
        while time.monotonic() < deadline:
            fleet.serve(0.3)
            st = coordinator.api("GET", "/api/v4/load_rebalance/status")[1]
            if st.get("status") == "disabled" and "last_result" in st:
                result = st["last_result"]
                break
        assert result is not None and result["result"] == "completed", result
        fleet.serve(0.5)
        counts = [node_connections(n) for n in nodes]
        print("connections per node after the rebalance:", counts, "result:", result)
        assert sum(counts) == total, counts
        donor_counts = [counts[i] for i, n in enumerate(layout) if n > total / len(layout)]
        recipient_counts = [counts[i] for i, n in enumerate(layout) if n <= total / len(layout)]
        donor_avg = sum(donor_counts) / len(donor_counts)
        recipient_avg = sum(recipient_counts) / len(recipient_counts)
        assert recipient_avg > 0, counts  # something moved
        assert donor_avg - recipient_avg <= OPTS["abs_conn_threshold"] or donor_avg <= recipient_avg * OPTS["rel_conn_threshold"], counts
        assert all(d.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200 for d in donors)
    finally:
        fleet.close()


def test_rebalance_nothing_to_balance_and_not_started(cluster):
    c = cluster(2)
    n1 = c[1]
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, OPTS)
    assert (status, body) == (200, {"code": 400, "message": "nothing_to_balance"}), body
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/stop" % n1.name, {})
    assert (status, body) == (200, {"code": 400, "message": "not_started"}), body


def start_rebalance_held_in_health_check(n1, n2, clients, prefix):
    """The start both failure tests share: 30 clients on n2 (appended to `clients`, for the
    caller to close) make it a donor of a rebalance coordinated by n1 that stays in
    wait_health_check (nothing moves yet); n2's health check already answers 503."""
    for i in range(30):
        cl = mqttraw.RawClient(n2.host, n2.port)
        cl.connect("%s-%02d" % (prefix, i))
        clients.append(cl)
    opts = dict(OPTS, wait_health_check=30)
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, opts)
    assert body == {"code": 0, "data": []}, body
    assert n2.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503


def test_rebalance_aborts_when_a_donor_dies(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    clients = []
    try:
        start_rebalance_held_in_health_check(n1, n2, clients, "ab")
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
        start_rebalance_held_in_health_check(n1, n2, clients, "cd")
        t0 = time.monotonic()
        n1.kill9()
        poll(lambda: (n2.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200, None), 8.0,
             "the donor is released")
        assert time.monotonic() - t0 <= 5.5
    finally:
        for cl in clients:
            cl.close()


def test_rebalance_moves_offline_sessions_with_their_messages(cluster):
    """The session phase (evicting_sessions): a donor with 24 disconnected sessions and a
    recipient with none end within the session thresholds; every session keeps its queued
    message and a client gets it back on either node."""
    c = cluster(2)
    n1, n2 = c[1], c[2]
    persist = {"SessionExpiryInterval": 300}
    ids = ["rs-%02d" % i for i in range(24)]
    for cid in ids:
        cl = mqttraw.RawClient(n1.host, n1.port)
        assert cl.connect(cid, clean=False, props=dict(persist)).rc == 0
        cl.subscribe([("rs/" + cid, 1)])
        cl.disconnect()
    pub = mqttraw.RawClient(n1.host, n1.port)
    pub.connect("rs-pub")
    for cid in ids:
        pub.publish_acked("rs/" + cid, cid.encode())
    pub.close()
    # Donors are chosen by connections: a few live clients make node 1 the donor.
    live = [mqttraw.RawClient(n1.host, n1.port) for _ in range(5)]
    for i, cl in enumerate(live):
        assert cl.connect("rs-live-%d" % i).rc == 0

    opts = dict(OPTS, wait_health_check=0, wait_takeover=0)
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/start" % n1.name, opts)
    assert body == {"code": 0, "data": []}, body
    st = poll(lambda: (lambda s: ("last_result" in s, s))(n1.api("GET", "/api/v4/load_rebalance/status")[1]), 20.0,
              "the rebalance ends")
    assert st["last_result"]["result"] == "completed", st
    for cl in live:
        cl.close()
    poll(lambda: (sum(n.data("/api/v4/stats")[0]["connections.count"] for n in (n1, n2)) == 0, None), 5.0,
         "the live clients are gone")
    counts = [n.data("/api/v4/stats")[0]["sessions.count"] for n in (n1, n2)]
    assert sum(counts) == len(ids), counts
    assert counts[0] - counts[1] <= OPTS["abs_sess_threshold"] or counts[0] <= counts[1] * OPTS["rel_sess_threshold"], counts
    assert counts[1] > 0, counts

    for i, cid in enumerate(ids):  # back from wherever it went, through either node
        n = (n1, n2)[i % 2]
        cl = mqttraw.RawClient(n.host, n.port)
        ack = cl.connect(cid, clean=False, props=dict(persist))
        assert ack.rc == 0 and ack.session_present, (cid, ack)
        p = cl.expect(mqttraw.PUBLISH, timeout=5)
        assert (p.topic, p.payload) == ("rs/" + cid, cid.encode()), p
        cl.puback(p.pid)
        cl.disconnect()


def test_v4_node_that_is_a_stopped_member_is_unreachable_not_invalid(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    n2.kill9()
    poll(lambda: (n2.name in n1.data("/api/v4/cluster")["stopped_nodes"], None), 10.0, "node 2 is seen down")
    status, body = n1.api("GET", "/api/v4/load_rebalance/%s/status" % n2.name)
    assert (status, body) == (200, {"code": 400, "message": "Error communicating with node '%s': the node is not running" % n2.name}), body
    status, body = n1.api("GET", "/api/v5/load_rebalance/%s/status" % n2.name)
    assert (status, body) == (404, {"code": "NOT_FOUND", "message": "Node not found: " + n2.name}), body
    status, body = n1.api("GET", "/api/v4/load_rebalance/ghost@127.0.0.9/status")
    assert (status, body) == (200, {"code": 400, "message": "invalid node: ghost@127.0.0.9"}), body


def test_donor_status_follows_the_coordinator(cluster):
    """A rebalance started on n3 with n1 as its donor: when the start answers, n1's status
    already shows the run, and through the run the donor's state is always one the
    coordinator showed just before or just after (no second of lag at each change)."""
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    fleet = Fleet(c.nodes, try_next_on_refusal=True)
    try:
        for i in range(30):
            fleet.connect("lag-%02d" % i, 0)
        opts = dict(OPTS, conn_evict_rate=5, wait_health_check=1, wait_takeover=1)
        status, body = n2.api("POST", "/api/v4/load_rebalance/%s/start" % n3.name, opts)
        assert (status, body) == (200, {"code": 0, "data": []}), body
        donor = n1.api("GET", "/api/v4/load_rebalance/status")[1]
        assert (donor.get("status"), donor.get("process"), donor.get("state"), donor.get("coordinator_node")) == (
            "enabled", "rebalance", "wait_health_check", n3.name), donor
        seen = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fleet.serve(0.05)
            before = n3.api("GET", "/api/v4/load_rebalance/status")[1]
            donor = n1.api("GET", "/api/v4/load_rebalance/status")[1]
            after = n3.api("GET", "/api/v4/load_rebalance/status")[1]
            if after.get("status") == "disabled":
                break
            if donor.get("status") != "enabled":
                continue  # released at the end, between the two coordinator samples
            states = {before.get("state"), after.get("state")}
            assert donor["state"] in states, (before, donor, after)
            seen.add(donor["state"])
        assert after.get("last_result", {}).get("result") == "completed", after
        assert {"wait_health_check", "evicting_conns", "wait_takeover"} <= seen, seen
    finally:
        fleet.close()
