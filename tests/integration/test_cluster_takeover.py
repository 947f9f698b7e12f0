"""Cross-node takeover: a client id is known cluster-wide; connecting on
node B with the client id of a session living on node A takes it over — the old
connection (if any) gets DISCONNECT 0x8E, the session (subscriptions, inflight
messages with their packet ids, queued messages) moves to B, CONNACK has session
present = 1, and the messages follow in order.  Two connects with the same
client id racing on two nodes end with exactly one live connection.

(Session migration without a client is exercised by the rebalance issue.)"""

import threading
import time

import pytest

import mqttraw
from clusterhelpers import (  # noqa: F401  (fixtures)
    cluster, poll, pytestmark_cluster, wait_client_node, wait_no_route, wait_route)
from mqttraw import CONNACK, DISCONNECT, PINGRESP, PUBLISH, connect_packet

pytestmark = pytestmark_cluster

PERSIST = {"SessionExpiryInterval": 300}
N_QUEUED = 100


def persistent(version):
    return {"clean": False, "props": dict(PERSIST)} if version == 5 else {"clean": False}


def receive_publishes(raw, n, ack=True, timeout=10):
    """The next n packets must be PUBLISHes; acknowledges them (QoS 1) unless ack is false."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        p = raw.expect(PUBLISH, timeout=max(deadline - time.monotonic(), 0.01))
        if ack and p.qos == 1:
            raw.puback(p.pid)
        got.append(p)
    return got


def test_takeover_of_offline_session_on_another_node(cluster, make_raw, make_client, uid):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    topic = "tk/" + uid
    old = make_raw(n1, 5, client_id="c1", clean=False, props=dict(PERSIST))
    assert old.subscribe(topic, qos=1).rcs == [1]
    old.disconnect()

    def c1_on_node1(queued=None):
        d = n1.client_info("c1")
        ok = len(d) == 1 and d[0]["connected"] is False and d[0]["node"] == n1.name
        return ok and (queued is None or d[0]["mqueue_len"] == queued), d

    # the session stays on node 1, offline, and so does its route
    poll(c1_on_node1, 5, "c1 offline on node 1")
    wait_route(n2, topic, n1)
    pub = make_client(n2, "p-" + uid, version=5)
    for i in range(N_QUEUED):
        pub.publish(topic, b"%d" % i, qos=1)
    # all of them queued in the offline session on node 1 before the takeover
    poll(lambda: c1_on_node1(N_QUEUED), 10, "%d messages queued for c1 on node 1" % N_QUEUED)

    new = make_raw(n3, 5, client_id="c1", clean=False, props=dict(PERSIST))
    assert new.connack.session_present is True, new.connack
    got = receive_publishes(new, N_QUEUED)
    assert [p.payload for p in got] == [b"%d" % i for i in range(N_QUEUED)], [p.payload for p in got]
    assert all(p.topic == topic and p.qos == 1 for p in got)
    assert [p for p in new.recv_all(0.3) if p.type == PUBLISH] == [], "more than the queued messages"

    for n in c.nodes:
        data = wait_client_node(n, "c1", n3)
        assert data[0]["connected"] is True, data
    # the subscription moved with the session: node 1's publishes now go to node 3
    wait_route(n1, topic, n3)
    wait_no_route(n2, owner=n1, topic=topic)
    make_client(n1, "p1-" + uid, version=5).publish(topic, b"after", qos=1)
    assert [p.payload for p in receive_publishes(new, 1)] == [b"after"]


@pytest.mark.parametrize("version", [5, 4])
def test_takeover_of_online_connection_on_another_node(cluster, make_raw, make_client, uid, version):
    """The old connection on node 1 holds unacknowledged messages; connecting on
    node 3 closes it (MQTT 5: DISCONNECT 0x8E) and the messages are sent again
    on node 3 with DUP and the same packet ids, in order."""
    c = cluster(3)
    n1, n2, n3 = c.nodes
    topic = "tko/" + uid
    old = make_raw(n1, version, client_id="c1", **persistent(version))
    old.subscribe(topic, qos=1)
    wait_route(n2, topic, n1)
    pub = make_client(n2, "p-" + uid, version=5)
    for i in range(5):
        pub.publish(topic, b"m%d" % i, qos=1)
    first = receive_publishes(old, 5, ack=False)  # deliberately not acknowledged
    assert [p.payload for p in first] == [b"m%d" % i for i in range(5)]

    new = make_raw(n3, version, client_id="c1", **persistent(version))
    assert new.connack.session_present is True, new.connack
    pkts = old.wait_closed()
    if version == 5:
        assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x8E)], pkts
    else:
        assert pkts == [], pkts
    again = receive_publishes(new, 5)
    assert [p.payload for p in again] == [b"m%d" % i for i in range(5)]
    assert all(p.dup for p in again), again
    assert [p.pid for p in again] == [p.pid for p in first], (again, first)

    data = wait_client_node(n1, "c1", n3)
    assert data[0]["connected"] is True, data
    wait_client_node(n2, "c1", n3)
    # the session is fully alive on node 3
    wait_route(n2, topic, n3)
    pub.publish(topic, b"after", qos=1)
    assert [p.payload for p in receive_publishes(new, 1)] == [b"after"]
    assert [p for p in new.recv_all(0.2) if p.type == PUBLISH] == []


# --- the race of two connects -------------------------------------------------------------

class RacingConnect:
    """One CONNECT of the race, sent when `go` is set."""

    def __init__(self, node, clientid, clean, go):
        self.node, self.clientid, self.clean, self.go = node, clientid, clean, go
        self.raw = mqttraw.RawClient(node.host, node.port, version=5)
        self.connack = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.go.wait(5)
            props = None if self.clean else {"SessionExpiryInterval": 60}
            self.raw.send(connect_packet(self.clientid, version=5, clean=self.clean, props=props))
            p = self.raw.recv(5)
            if p.type == CONNACK:
                self.connack = p
            else:
                self.error = "unexpected first packet %r" % (p,)
        except (mqttraw.Closed, OSError) as e:  # refused by closing: allowed
            self.error = "closed: %s" % e
        except mqttraw.Timeout as e:
            self.error = "no CONNACK: %s" % e

    @property
    def accepted(self):
        return self.connack is not None and self.connack.rc == 0

    def live(self):
        return self.accepted and not self.raw.closed and self.raw.is_open()

    def close(self):
        self.raw.close()


@pytest.mark.parametrize("session", ["clean", "persistent"])
def test_racing_connects_leave_exactly_one_connection(cluster, uid, session):
    c = cluster(3)
    n1, n2, _ = c.nodes
    for i in range(20):
        cid = "race%d-%s" % (i, uid)
        go = threading.Event()
        conns = [RacingConnect(n1, cid, session == "clean", go), RacingConnect(n2, cid, session == "clean", go)]
        try:
            go.set()
            for x in conns:
                x.thread.join(8)
                assert not x.thread.is_alive(), "round %d: CONNECT on %s did not finish" % (i, x.node.name)
                assert x.error is None or x.error.startswith("closed"), (i, x.node.name, x.error)
                if x.connack is not None and x.connack.rc != 0:
                    assert x.connack.rc >= 0x80, (i, x.connack)
            assert any(x.accepted for x in conns), "round %d: both connects refused: %r" % (
                i, [(x.connack, x.error) for x in conns])
            # settle: the loser (if it was accepted) is closed
            def settled():
                live = [x for x in conns if x.live()]
                return len(live) <= 1, live

            live = poll(settled, 5, "round %d: one of two live connections closed" % i, interval=0.01)
            assert len(live) == 1, "round %d: no live connection left (%r)" % (
                i, [(x.node.name, x.connack, x.error) for x in conns])
            winner = live[0]
            loser = conns[1 - conns.index(winner)]
            # what the loser got before its close: only DISCONNECT 0x8E
            if loser.accepted:
                pkts = loser.raw.wait_closed(2)
                assert all(p.type == DISCONNECT and p.rc == 0x8E for p in pkts), (i, pkts)
            # and it stays that way: the winner keeps working, the registry agrees everywhere
            assert [x for x in conns if x.live()] == [winner]
            winner.raw.ping()
            pong, skipped = winner.raw.recv_until(lambda p: p.type == PINGRESP, timeout=3)
            assert [p for p in skipped if p.type == DISCONNECT] == [], (i, skipped)
            assert winner.raw.is_open(wait=0.2), "round %d: the winner was closed too" % i
            for n in c.nodes:
                data = wait_client_node(n, cid, winner.node)
                assert data[0]["connected"] is True, (i, n.name, data)
            assert [x for x in conns if x.live()] == [winner], "round %d: a second live connection" % i
        finally:
            for x in conns:
                x.close()


def test_handoff_metrics_count_a_takeover_and_its_window(cluster, make_raw, uid):
    """/metrics tells what the handoff did: a takeover counted on both nodes, the new copy's window
    closed on the new node, the old copy's relay ended on the old node (docs/cluster.md)."""
    from test_rebalance_evacuation import metric_values

    c = cluster(3)
    n1, n2, n3 = c.nodes
    topic = "tkm/" + uid
    old = make_raw(n1, 5, client_id="m1", clean=False, props=dict(PERSIST))
    old.subscribe(topic, qos=1)
    wait_route(n2, topic, n1)
    new = make_raw(n3, 5, client_id="m1", clean=False, props=dict(PERSIST))
    assert new.connack.session_present is True, new.connack

    def counted():
        m1, m3 = metric_values(n1), metric_values(n3)
        got = (m1.get('tidemq_handoff_takeovers_total{direction="out"}'),
               m3.get('tidemq_handoff_takeovers_total{direction="in"}'),
               m3.get('tidemq_handoff_windows_total{end="closed",side="new"}'),
               m1.get('tidemq_handoff_windows_total{end="ended",side="old"}'))
        return got == (1.0, 1.0, 1.0, 1.0), got

    poll(counted, 10, "the takeover and its window counted on nodes 1 and 3")
    m2 = metric_values(n2)
    for name in ('tidemq_handoff_migrations_total{outcome="fenced"}', "tidemq_handoff_epochs_fenced_total",
                 'tidemq_handoff_duplicates_dropped_total{kind="relayed_twice"}', "tidemq_cluster_forwards_dropped_total",
                 "tidemq_cluster_forwards_refused_total", "tidemq_handoff_connects_refused_total"):
        assert m2.get(name) == 0.0, (name, m2.get(name))
