"""Subscription identifiers and overlapping subscriptions."""

import pytest

from mqttraw import PUBLISH, subscribe_packet
from mqtthelpers import expect_refused


def test_overlapping_subscriptions_one_copy_per_subscription(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("ov/%s/+" % uid, qos=1, subid=5)
    sub.subscribe("ov/%s/#" % uid, qos=1, subid=7)
    sub.subscribe("ov/%s/x" % uid, qos=0)  # no identifier
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ov/%s/x" % uid, b"hi", qos=1)
    copies = sub.messages.get_n(3)
    copies += sub.messages.none_within(0.3)
    assert len(copies) == 3, copies
    assert all(m.payload == b"hi" and m.topic == "ov/%s/x" % uid for m in copies)
    ids = sorted(tuple(m.props.get("SubscriptionIdentifier", [])) for m in copies)
    assert ids == [(), (5,), (7,)], ids
    by_id = {tuple(m.props.get("SubscriptionIdentifier", [])): m.qos for m in copies}
    assert by_id == {(5,): 1, (7,): 1, (): 0}


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
