"""Session migration: the primitive that evacuation and rebalance use to
move an offline session from node A to node B without a client, exposed as
POST /api/v4/clients/{clientid}/migrate {"node": B} on A.  After the move the
session lives on B, keeps queueing there, and a client connecting to any node
gets it back with everything that was published — also what was published while
the sessions were moving (QoS 1: nothing lost; a duplicate must carry DUP)."""

import threading
import time

import pytest

import mqttraw
from clusterhelpers import cluster, poll, pytestmark_cluster, wait_client_node, wait_route  # noqa: F401
from mqttraw import PUBLISH

pytestmark = pytestmark_cluster

N_SESSIONS = 1000
N_MESSAGES = 20
PERSIST = {"SessionExpiryInterval": 600}


def make_offline_session(node, cid, topic):
    c = mqttraw.RawClient(node.host, node.port)
    try:
        ack = c.connect(cid, clean=False, props=dict(PERSIST))
        assert ack.rc == 0, ack
        c.subscribe([(topic, 1)])
        c.disconnect()
    finally:
        c.close()


def drain_session(node, cid, want, timeout=10.0):
    """Connects `cid` to `node` and returns the PUBLISHes until `want` distinct payloads arrived."""
    c = mqttraw.RawClient(node.host, node.port)
    try:
        ack = c.connect(cid, clean=False, props=dict(PERSIST))
        assert ack.rc == 0 and ack.session_present, (cid, ack)
        got = []
        deadline = time.monotonic() + timeout
        while len({p.payload for p in got}) < want:
            p = c.expect(PUBLISH, timeout=max(deadline - time.monotonic(), 0.01))
            if p.qos == 1:
                c.puback(p.pid)
            got.append(p)
        c.disconnect()
        return got
    finally:
        c.close()


def test_migrate_one_session_keeps_queue_and_subscriptions(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    make_offline_session(n1, "mig-one", "mig/one")
    wait_route(n3, "mig/one", n1)
    pub = mqttraw.RawClient(n3.host, n3.port)
    pub.connect("mig-one-pub")
    for i in range(5):
        pub.publish_acked("mig/one", b"before-%d" % i)
    status, body = n1.api("POST", "/api/v4/clients/mig-one/migrate", {"node": n2.name})
    assert (status, body) == (200, {"code": 0}), body
    wait_client_node(n3, "mig-one", n2.name)
    wait_route(n3, "mig/one", n2)
    for i in range(5):
        pub.publish_acked("mig/one", b"after-%d" % i)
    pub.close()
    # forwarding is asynchronous: the PUBACKs come from node 3 before node 2 has queued them
    poll(lambda: (lambda i: (not i["connected"] and i["mqueue_len"] == 10, i))(n2.client_info("mig-one")[0]),
         5.0, "10 messages queued for mig-one on node 2")
    got = drain_session(n3, "mig-one", 10)
    assert [p.payload for p in got] == [b"before-%d" % i for i in range(5)] + [b"after-%d" % i for i in range(5)]


def test_migrate_errors(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    status, body = n1.api("POST", "/api/v4/clients/nobody/migrate", {"node": n2.name})
    assert status == 404 and body["code"] == 404 and "no session" in body["message"], body
    status, body = n1.api("POST", "/api/v4/clients/nobody/migrate", {"node": "ghost@127.0.0.9"})
    assert status == 404 and "node not found" in body["message"], body
    status, body = n1.api("POST", "/api/v4/clients/nobody/migrate", {"nod": 1})
    assert status == 400 and "'node'" in body["message"], body
    online = mqttraw.RawClient(n1.host, n1.port)
    try:
        online.connect("mig-online", clean=False, props=dict(PERSIST))
        status, body = n1.api("POST", "/api/v4/clients/mig-online/migrate", {"node": n2.name})
        assert status == 409 and "connected" in body["message"], body
        online.ping()  # still connected, untouched
    finally:
        online.close()


def test_migrate_1000_sessions_while_publishing(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    topic = "mig/all"
    for i in range(N_SESSIONS):
        make_offline_session(n1, "mig-%04d" % i, topic)
    wait_route(n3, topic, n1)

    published = []
    errors = []

    def publisher():
        # QoS 1 from node 3, spread over the whole move
        try:
            pub = mqttraw.RawClient(n3.host, n3.port)
            pub.connect("mig-publisher")
            for k in range(N_MESSAGES):
                pub.publish_acked(topic, b"m%02d" % k)
                published.append(b"m%02d" % k)
                time.sleep(0.05)  # pacing, not synchronisation: spread publishes over the move
            pub.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=publisher)
    t.start()
    failures = []
    published_at_start = len(published)
    for i in range(N_SESSIONS):
        status, body = n1.api("POST", "/api/v4/clients/mig-%04d/migrate" % i, {"node": n2.name})
        if status != 200:
            failures.append((i, status, body))
    published_at_end = len(published)
    t.join(timeout=30)
    # the publishes really overlapped the move
    assert published_at_start < N_MESSAGES and published_at_end > published_at_start, (published_at_start, published_at_end)
    assert not t.is_alive() and not errors, errors
    assert failures == [], failures[:5]
    assert len(published) == N_MESSAGES
    assert n1.data("/api/v4/stats")[0]["sessions.count"] == 0
    wait_client_node(n1, "mig-0999", n2.name)
    stats2 = n2.data("/api/v4/stats")[0]
    assert stats2["sessions.count"] == N_SESSIONS, stats2

    lost, unexplained_dups = [], []
    for i in range(N_SESSIONS):
        node = (n1, n2, n3)[i % 3]  # reconnect anywhere
        got = drain_session(node, "mig-%04d" % i, N_MESSAGES)
        payloads = [p.payload for p in got]
        if sorted(set(payloads)) != sorted(published):
            lost.append((i, sorted(set(published) - set(payloads))))
        seen = set()
        for p in got:
            if p.payload in seen and not p.dup:
                unexplained_dups.append((i, p.payload))
            seen.add(p.payload)
    assert lost == [], lost[:5]
    assert unexplained_dups == [], unexplained_dups[:5]
