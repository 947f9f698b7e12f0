"""Receive Maximum (flow control) in both directions (MQTT 5)."""

import pytest

from mqttraw import PUBCOMP, PUBLISH, PUBREC, PUBREL
from mqtthelpers import expect_refused

QUIET = 0.5  # "nothing more arrives" window


def publishes(pkts):
    return [p for p in pkts if p.type == PUBLISH]


@pytest.fixture
def pub(broker, make_client, uid):
    return make_client(broker, "p-" + uid, version=5)


def test_receive_maximum_first_window(broker, make_raw, pub, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"ReceiveMaximum": 3})
    sub.subscribe("fcw/" + uid, qos=1)
    for i in range(10):
        pub.publish("fcw/" + uid, b"%d" % i, qos=1)
    first = publishes(sub.recv_all(QUIET))
    assert [p.payload for p in first] == [b"0", b"1", b"2"], \
        "Receive Maximum 3 and no PUBACK: exactly 3 PUBLISHes expected, got %r" % first
    received = list(first)
    for p in first:
        sub.puback(p.pid)
    for _ in range(20):  # bounded
        if len(received) >= 10:
            break
        batch = publishes(sub.recv_all(QUIET))
        assert batch, "delivery stalled after %d messages" % len(received)
        received += batch
        for p in batch:
            sub.puback(p.pid)
    assert [int(p.payload) for p in received] == list(range(10))


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 respects Receive Maximum only for the first window")
def test_receive_maximum_limits_unacked_qos1(broker, make_raw, pub, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"ReceiveMaximum": 3})
    sub.subscribe("fc/" + uid, qos=1)
    for i in range(10):
        pub.publish("fc/" + uid, b"%d" % i, qos=1)
    received = []
    for _ in range(20):  # bounded: at most 10 rounds are needed
        batch = publishes(sub.recv_all(QUIET))
        assert len(batch) <= 3, "%d unacknowledged QoS 1 PUBLISHes with Receive Maximum 3" % len(batch)
        if not batch and len(received) == 10:
            break
        assert batch, "delivery stalled after %d messages" % len(received)
        received += batch
        for p in batch:
            sub.puback(p.pid)
    assert [int(p.payload) for p in received] == list(range(10))


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 sends more than Receive Maximum after a single PUBACK")
def test_each_puback_releases_exactly_one_slot(broker, make_raw, pub, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"ReceiveMaximum": 3})
    sub.subscribe("fc1/" + uid, qos=1)
    for i in range(10):
        pub.publish("fc1/" + uid, b"%d" % i, qos=1)
    outstanding = publishes(sub.recv_all(QUIET))
    assert len(outstanding) == 3, outstanding
    got = list(outstanding)
    while len(got) < 10:
        oldest = outstanding.pop(0)
        sub.puback(oldest.pid)
        more = publishes(sub.recv_all(QUIET))
        assert len(more) == 1, "one PUBACK must release exactly one slot, got %r" % more
        outstanding += more
        got += more
    assert [int(p.payload) for p in got] == list(range(10))


def test_receive_maximum_qos2_slot_held_until_pubcomp(broker, make_raw, pub, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"ReceiveMaximum": 2})
    sub.subscribe("fc2/" + uid, qos=2)
    for i in range(4):
        pub.publish("fc2/" + uid, b"%d" % i, qos=2)
    first = publishes(sub.recv_all(QUIET))
    assert [p.payload for p in first] == [b"0", b"1"], first
    for p in first:
        sub.pubrec(p.pid)
    pkts = sub.recv_all(QUIET)
    assert [p.type for p in pkts] == [PUBREL, PUBREL], \
        "after PUBREC the slot stays taken until PUBCOMP: %r" % pkts
    for p in pkts:
        sub.pubcomp(p.pid)
    second = publishes(sub.recv_all(QUIET))
    assert [p.payload for p in second] == [b"2", b"3"], second


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 sends more than Receive Maximum after a single PUBCOMP")
def test_qos2_pubcomp_releases_exactly_one_slot(broker, make_raw, pub, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"ReceiveMaximum": 2})
    sub.subscribe("fc3/" + uid, qos=2)
    for i in range(4):
        pub.publish("fc3/" + uid, b"%d" % i, qos=2)
    first = publishes(sub.recv_all(QUIET))
    assert len(first) == 2
    sub.pubrec(first[0].pid)
    rel = sub.expect(PUBREL)
    sub.pubcomp(rel.pid)
    more = publishes(sub.recv_all(QUIET))
    assert [p.payload for p in more] == [b"2"], more


def test_paho_client_with_receive_maximum_one_gets_everything(broker, make_client, pub, uid):
    sub = make_client(broker, "s-" + uid, version=5, props={"ReceiveMaximum": 1})
    sub.subscribe("fcp/" + uid, qos=2)
    for i in range(30):
        pub.publish("fcp/" + uid, b"%d" % i, qos=1 + i % 2)
    got = sub.messages.get_n(30, timeout=10)
    assert sorted(int(m.payload) for m in got) == list(range(30))


# --- client -> broker: the server's Receive Maximum ------------------------------------

def test_server_receive_maximum_allows_up_to_limit(broker_factory, make_raw, uid):
    b = broker_factory(max_inflight=5)
    c = make_raw(b, 5, client_id="c-" + uid)
    assert c.connack.props.get("ReceiveMaximum") == 5
    pids = [c.publish("in/" + uid, b"x", qos=2) for _ in range(5)]
    recs = [c.expect(PUBREC) for _ in range(5)]
    assert [r.pid for r in recs] == pids and all((r.rc or 0) < 0x80 for r in recs), recs
    for pid in pids:
        c.pubrel(pid)
    comps = [c.expect(PUBCOMP) for _ in range(5)]
    assert [x.pid for x in comps] == pids


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 answers PUBREC 0x97 instead of DISCONNECT 0x93")
def test_server_receive_maximum_exceeded_gets_0x93(broker_factory, make_raw, uid):
    b = broker_factory(max_inflight=5)
    c = make_raw(b, 5, client_id="c-" + uid)
    for _ in range(6):
        c.publish("in/" + uid, b"x", qos=2)  # no PUBREL: all stay in flight
    pkts = expect_refused(c, disconnect_rcs=(0x93,), allow=(PUBREC,))
    assert pkts[-1].rc == 0x93, pkts
    assert len([p for p in pkts if p.type == PUBREC]) <= 5
