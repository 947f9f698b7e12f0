"""A cluster link whose peer stops reading (docs/cluster.md, "Link limits"): forwarded QoS 0
messages beyond the soft limit are dropped and counted; a QoS 1/2 message is never dropped —
beyond the hard limit the publisher is refused (MQTT 5: PUBACK 0x97, MQTT 3.1.1: the connection
closes, HTTP publish API: 503) and nothing of the refused message is delivered anywhere, so that
its retry is not a duplicate.  Every message that was accepted reaches the subscriber on the
stopped node once it reads again, in order."""

import signal
import struct
import threading
import time

import mqttraw
from clusterhelpers import cluster, pytestmark_cluster, wait_route  # noqa: F401  (fixtures)
from mqttraw import PUBACK, PUBLISH
from test_rebalance_evacuation import metric_values

pytestmark = pytestmark_cluster

PAYLOAD_BYTES = 4 * 1024 * 1024        # 64 of them fill the 256 MiB hard limit
HARD_LIMIT_BYTES = 256 * 1024 * 1024
MAX_PUBLISHES = 2 * HARD_LIMIT_BYTES // PAYLOAD_BYTES  # bound: the limit must be met well before
PERSIST = {"SessionExpiryInterval": 300}


def payload(tag, i):
    head = struct.pack(">4sI", tag, i)
    return head + b"\0" * (PAYLOAD_BYTES - len(head))


def ident(p):
    tag, i = struct.unpack(">4sI", p.payload[:8])
    return tag.rstrip(b"\0").decode(), i


class Reader(threading.Thread):
    """Reads (and acknowledges) every PUBLISH on a raw connection, keeping their identities."""

    def __init__(self, raw):
        super().__init__(daemon=True)
        self.raw, self.got, self.errors = raw, [], []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                p = self.raw.recv(timeout=0.2)
            except mqttraw.Timeout:
                continue
            except Exception as e:  # noqa: BLE001  (reported by the test)
                self.errors.append(repr(e))
                return
            if p.type != PUBLISH:
                self.errors.append("unexpected %r" % p)
                continue
            if p.qos == 1:
                self.raw.puback(p.pid)
            self.got.append(ident(p))

    def wait_for(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.got) < n and not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.got)


def test_full_link_refuses_qos1_whole_and_counts_qos0_drops(cluster, make_raw, uid):
    # Heartbeats stay unanswered while node 2 is stopped: give it long enough not to be declared down.
    c = cluster(2, settings={"mqtt.max_packet_size": 2 * PAYLOAD_BYTES, "cluster.down_after": 240})
    n1, n2 = c.nodes
    topic = "full/" + uid
    far = make_raw(n2, 5, client_id="far-" + uid, clean=False, props=dict(PERSIST))
    far.subscribe(topic, qos=1)
    near = make_raw(n1, 5, client_id="near-" + uid, clean=False, props=dict(PERSIST))
    near.subscribe(topic, qos=1)
    wait_route(n1, topic, n2)
    near_reader, far_reader = Reader(near), Reader(far)
    near_reader.start()
    far_reader.start()
    # Connected before node 2 stops: a connect asks the client id's home node, which may be node 2.
    pub = make_raw(n1, 5, client_id="pub-" + uid)
    v3 = make_raw(n1, 4, client_id="pub3-" + uid)

    accepted, refused = [], []
    n2.send_signal(signal.SIGSTOP)
    try:
        # QoS 1 until the link to the stopped node is full, then a few more: all refused.
        for i in range(MAX_PUBLISHES):
            ack = pub.publish_acked(topic, payload(b"q1", i), qos=1, timeout=30)
            assert ack.type == PUBACK
            (refused if ack.rc == 0x97 else accepted).append(i)
            assert ack.rc in (0, 0x97), ack
            assert not refused or ack.rc == 0x97, "accepted again after a refusal while node 2 is stopped"
            if len(refused) == 3:
                break
        assert len(refused) == 3, "the link to a stopped node never refused a QoS 1 message (%d accepted)" % len(accepted)
        assert len(accepted) * PAYLOAD_BYTES >= HARD_LIMIT_BYTES, len(accepted)

        # QoS 0 beyond the soft limit: dropped for node 2 (delivered here), and counted. A QoS 1
        # publish behind them (refused too) comes back only after the node has handled all five.
        for i in range(5):
            pub.publish(topic, payload(b"q0", i), qos=0)
        ack = pub.publish_acked(topic, payload(b"sync", 0), qos=1, timeout=30)
        assert ack.rc == 0x97, ack
        # The HTTP publish API is refused too, with a message.
        status, body = n1.api("POST", "/api/v4/mqtt/publish", {"topic": topic, "qos": 1, "payload": "api"})
        assert status == 503, (status, body)
        assert "cluster link is full" in body["message"], body
        # MQTT 3.1.1 has no negative acknowledgement: the connection closes, the client retries.
        v3.publish(topic, payload(b"v3", 0), qos=1)
        before_close = v3.wait_closed(timeout=10)
        assert not before_close, "MQTT 3.1.1 publisher got %r before its connection closed" % before_close

        m = metric_values(n1)
        assert m["tidemq_cluster_forwards_refused_total"] == len(refused) + 3, m["tidemq_cluster_forwards_refused_total"]
        assert m["tidemq_cluster_forwards_dropped_total"] == 5, m["tidemq_cluster_forwards_dropped_total"]
    finally:
        n2.send_signal(signal.SIGCONT)

    # A last message behind them all: when it has arrived, nothing else is on its way. Until node 2
    # has read the backlog the link stays full: the publisher retries, as a client would.
    last = struct.pack(">4sI", b"last", 0)
    deadline = time.monotonic() + 120
    while pub.publish_acked(topic, last, qos=1, timeout=60).rc == 0x97:
        assert time.monotonic() < deadline, "the link to node 2 is still full two minutes after it resumed"
        time.sleep(0.1)
    want_far = [("q1", i) for i in accepted] + [("last", 0)]
    want_near = [("q1", i) for i in accepted] + [("q0", i) for i in range(5)] + [("last", 0)]
    got_far = far_reader.wait_for(len(want_far), timeout=120)
    got_near = near_reader.wait_for(len(want_near), timeout=30)
    far_reader.stop.set()
    near_reader.stop.set()
    assert not far_reader.errors and not near_reader.errors, (far_reader.errors, near_reader.errors)
    assert got_far == want_far, "node 2's subscriber: %d of %d accepted messages, first difference %r" % (
        len(got_far), len(want_far), next(((a, b) for a, b in zip(got_far, want_far) if a != b), None))
    assert got_near == want_near, "node 1's subscriber got %r..., want %r..." % (got_near[-8:], want_near[-8:])
