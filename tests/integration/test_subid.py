"""Subscription identifiers and overlapping subscriptions."""

import random

import pytest

from clusterhelpers import (  # noqa: F401  (fixtures)
    cluster3, pytestmark_cluster, shared_cluster, wait_routes)
from mqttraw import PUBLISH, subscribe_packet
from mqtthelpers import barrier, expect_refused


ONE_COPY = pytest.mark.tidemq_only(
    reason="tidemq sends one copy for overlapping subscriptions; mosquitto 2.0.11 sends one per "
           "subscription, which MQTT 5 section 3.3.4 also allows")


def sub_ids(m):
    return sorted(m.props.get("SubscriptionIdentifier", []))


def by_payload(msgs):
    """paho hands a QoS 2 message over at PUBREL: across QoS levels the order may change."""
    return sorted(msgs, key=lambda m: m.payload)


@ONE_COPY
def test_overlapping_subscriptions_one_copy_with_every_identifier(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("ov/%s/+" % uid, qos=1, subid=5)
    sub.subscribe("ov/%s/#" % uid, qos=2, subid=7)
    sub.subscribe("ov/%s/x" % uid, qos=0)  # no identifier
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ov/%s/x" % uid, b"hi", qos=2)
    pub.publish("ov/%s/x" % uid, b"low", qos=1)
    got = by_payload(sub.messages.get_n(2))
    assert sub.messages.none_within(0.3) == [], "MQTT-3.3.4-3: one copy per message"
    assert [m.payload for m in got] == [b"hi", b"low"], got
    assert [sub_ids(m) for m in got] == [[5, 7], [5, 7]], "MQTT-3.3.4-4: every matching identifier"
    assert [m.qos for m in got] == [2, 1], "the highest granted QoS, capped by the message's"


@ONE_COPY
def test_overlapping_subscriptions_no_local(broker, make_client, uid):
    """A No Local subscription does not match its own client's publish: it adds
    neither a copy nor its identifier (nor its QoS)."""
    c = make_client(broker, "c-" + uid, version=5)
    c.subscribe("nl/%s/#" % uid, qos=2, subid=1, no_local=True)
    c.subscribe("nl/%s/+" % uid, qos=1, subid=2)
    c.subscribe("nl/%s/deep/only" % uid, qos=2, subid=3, no_local=True)
    c.publish("nl/%s/x" % uid, b"own", qos=2)
    c.publish("nl/%s/deep/only" % uid, b"own-no-local-only", qos=2)  # matches nothing of c's
    other = make_client(broker, "o-" + uid, version=5)
    other.publish("nl/%s/x" % uid, b"other", qos=2)
    got = by_payload(c.messages.get_n(2))
    assert c.messages.none_within(0.3) == []
    assert [(m.payload, sub_ids(m), m.qos) for m in got] == [(b"other", [1, 2], 2), (b"own", [2], 1)], got


@ONE_COPY
def test_overlapping_subscriptions_retain_as_published(broker, make_client, uid):
    """RETAIN on the one copy: set when the message was retained and any matching
    subscription has Retain As Published."""
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rap/%s/+" % uid, qos=1, subid=1, rap=True)
    sub.subscribe("rap/%s/#" % uid, qos=1, subid=2)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rap/%s/x" % uid, b"kept", qos=1, retain=True)
    pub.publish("rap/%s/x" % uid, b"live", qos=1)
    got = by_payload(sub.messages.get_n(2))
    assert sub.messages.none_within(0.3) == []
    assert [(m.payload, m.retain, sub_ids(m)) for m in got] == [(b"kept", True, [1, 2]), (b"live", False, [1, 2])]


@ONE_COPY
def test_shared_subscription_is_not_merged(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("$share/g/shm/%s" % uid, qos=1, subid=4)
    sub.subscribe("shm/%s" % uid, qos=1, subid=5)
    sub.subscribe("shm/#", qos=0, subid=6)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("shm/%s" % uid, b"x", qos=1)
    got = sub.messages.get_n(2)
    assert sub.messages.none_within(0.3) == []
    assert sorted((sub_ids(m), m.qos) for m in got) == [([4], 1), ([5, 6], 1)], got


@ONE_COPY
@pytest.mark.parametrize("seed", [7, 1848, 90210])
def test_overlapping_subscriptions_random(broker, make_client, uid, seed):
    """Random overlapping subscriptions (QoS, identifiers, No Local, Retain As
    Published) and random publishes, own and foreign, against the rule: one copy,
    every identifier, the highest QoS, RETAIN if any RAP subscription and retained."""
    rnd = random.Random(seed)
    sub = make_client(broker, "s-" + uid, version=5)
    pub = make_client(broker, "p-" + uid, version=5)
    marker = "rnd/%s/marker" % uid
    sub.subscribe(marker, qos=2)  # a QoS 2 marker cannot overtake a QoS 2 message in paho
    next_id = iter(range(1, 1000))
    for rnd_round in range(8):
        base = "rnd/%s/%d" % (uid, rnd_round)
        topic = base + "/a/b"
        pool = [topic, base + "/+/b", base + "/#", base + "/a/+", base + "/+/+"]
        subs = []
        for flt in rnd.sample(pool, rnd.randint(1, 4)):
            o = {"qos": rnd.randint(0, 2), "subid": next(next_id) if rnd.random() < 0.7 else None,
                 "no_local": rnd.random() < 0.3, "rap": rnd.random() < 0.5}
            assert sub.subscribe(flt, **o) == [o["qos"]]
            subs.append(o)
        own = rnd.random() < 0.4
        qos, retain = rnd.randint(0, 2), rnd.random() < 0.5
        publisher = sub if own else pub
        publisher.publish(topic, b"m%d" % rnd_round, qos=qos, retain=retain)
        got = barrier(publisher, sub, marker, qos=2)
        matching = [o for o in subs if not (own and o["no_local"])]
        what = "seed %d round %d: subscriptions %r, own %s, qos %d, retain %s" % (seed, rnd_round, subs, own, qos, retain)
        if not matching:
            assert got == [], what
            continue
        assert len(got) == 1, "%s: got %r" % (what, got)
        m = got[0]
        assert m.payload == b"m%d" % rnd_round, what
        assert sub_ids(m) == sorted(o["subid"] for o in matching if o["subid"]), what
        assert m.qos == min(qos, max(o["qos"] for o in matching)), what
        assert m.retain == (retain and any(o["rap"] for o in matching)), what


@pytestmark_cluster
@pytest.mark.parametrize("version", [4, 5])
def test_overlapping_subscriptions_across_nodes(cluster3, make_client, uid, version):
    """Publisher on node 1, subscriber on node 2: the forwarded message is matched
    on node 2 and grouped there like a local one."""
    n1, n2, _ = cluster3.nodes
    base = "xn/" + uid
    plan = [(base + "/+", 1, 11, False), (base + "/#", 2, 12, False), (base + "/x", 0, 13, True)]
    sub = make_client(n2, "s-" + uid, version=version)
    for flt, qos, subid, no_local in plan:
        if version == 5:
            sub.subscribe(flt, qos=qos, subid=subid, no_local=no_local)
        else:
            sub.subscribe(flt, qos=qos)
    wait_routes(n1, [(flt, n2) for flt, _, _, _ in plan])
    pub = make_client(n1, "p-" + uid, version=5)
    pub.publish(base + "/x", b"far", qos=2)
    pub.publish(base + "/x", b"far-1", qos=1)
    got = by_payload(sub.messages.get_n(2))
    assert sub.messages.none_within(0.3) == [], "one copy per message"
    assert [(m.payload, m.qos) for m in got] == [(b"far", 2), (b"far-1", 1)], got
    want_ids = [11, 12, 13] if version == 5 else []  # No Local: another client's publish matches
    assert [sub_ids(m) for m in got] == [want_ids, want_ids], got


def test_subscription_identifier_on_matching_message(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("sid/%s/+" % uid, qos=1, subid=268435455)  # the largest allowed
    sub.subscribe("nosid/%s" % uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("sid/%s/a" % uid, b"a", qos=1)
    pub.publish("nosid/%s" % uid, b"b", qos=1)
    a, b = sub.messages.get_n(2)
    assert a.props.get("SubscriptionIdentifier") == [268435455]
    assert "SubscriptionIdentifier" not in b.props


def test_resubscribe_replaces_identifier(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rsid/" + uid, qos=1, subid=3)
    sub.subscribe("rsid/" + uid, qos=1, subid=4)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rsid/" + uid, b"x", qos=1)
    m = sub.messages.get()
    assert m.props.get("SubscriptionIdentifier") == [4]
    assert sub.messages.none_within(0.3) == []


def test_identifier_on_retained_delivery(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("retsid/" + uid, b"r", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("retsid/" + uid, qos=1, subid=42)
    m = sub.messages.get()
    assert m.retain and m.props.get("SubscriptionIdentifier") == [42]


def test_identifier_is_per_session(broker, make_client, uid):
    a = make_client(broker, "a-" + uid, version=5)
    b = make_client(broker, "b-" + uid, version=5)
    a.subscribe("ps/" + uid, qos=1, subid=11)
    b.subscribe("ps/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ps/" + uid, b"x", qos=1)
    assert a.messages.get().props.get("SubscriptionIdentifier") == [11]
    assert "SubscriptionIdentifier" not in b.messages.get().props


def test_identifier_on_shared_subscription(broker, make_client, uid):
    a = make_client(broker, "a-" + uid, version=5)
    a.subscribe("$share/g/shid/" + uid, qos=1, subid=9)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("shid/" + uid, b"x", qos=1)
    assert a.messages.get().props.get("SubscriptionIdentifier") == [9]


def test_identifier_survives_reconnect(broker, make_client, uid):
    kw = {"clean": False, "props": {"SessionExpiryInterval": 60}}
    sub = make_client(broker, "s-" + uid, version=5, **kw)
    sub.subscribe("sidr/" + uid, qos=1, subid=77)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("sidr/" + uid, b"queued", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=5, **kw)
    assert sub2.messages.get().props.get("SubscriptionIdentifier") == [77]


def test_subscription_identifier_zero_is_protocol_error(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="c-" + uid)
    # the property written by hand: 0x0B, varint 0
    body = b"\x00\x01" + b"\x02\x0b\x00" + b"\x00\x01a\x01"
    c.send(bytes([0x82, len(body)]) + body)
    expect_refused(c, disconnect_rcs=(0x81, 0x82))


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 delivers one 3.1.1 copy, but not at the maximum QoS of the matching subscriptions")
def test_v311_overlapping_subscriptions_one_copy_at_max_qos(broker, make_raw, make_client, uid):
    sub = make_raw(broker, 4, client_id="s-" + uid)
    sub.subscribe([("ov3/%s/+" % uid, 0), ("ov3/%s/#" % uid, 2), ("ov3/%s/x" % uid, 1)])
    pub = make_client(broker, "p-" + uid, version=4)
    pub.publish("ov3/%s/x" % uid, b"once", qos=2)
    got = [p for p in sub.recv_all(1.0) if p.type == PUBLISH]
    assert len(got) == 1, "3.1.1 overlapping subscriptions: expected one copy, got %r" % got
    assert got[0].qos == 2, "MQTT-3.3.5-1: maximum QoS of all matching subscriptions: %r" % got
