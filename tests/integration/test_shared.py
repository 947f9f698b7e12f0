"""Shared subscriptions: $share/<group>/<filter>."""

import pytest

from mqttraw import SUBACK, subscribe_packet
from mqtthelpers import barrier, expect_filter_not_granted, expect_refused

N = 20


def collect_split(members, total, timeout=8):
    """Wait until `total` messages arrived across members; return per-member payload lists."""
    import time
    deadline = time.monotonic() + timeout
    got = [[] for _ in members]
    while sum(len(g) for g in got) < total:
        if time.monotonic() > deadline:
            raise AssertionError("only %d of %d shared messages delivered: %r" % (sum(map(len, got)), total, got))
        for i, m in enumerate(members):
            for msg in m.messages.drain():
                got[i].append(msg.payload)
        time.sleep(0.01)
    return got


@pytest.mark.parametrize("version", [4, 5])
def test_shared_group_spreads_each_message_to_one_member(broker, make_client, uid, version):
    members = [make_client(broker, "m%d-%s" % (i, uid), version=version) for i in range(2)]
    for m in members:
        assert m.subscribe("$share/g/sh/" + uid, qos=1) == [1]
    pub = make_client(broker, "p-" + uid, version=version)
    for i in range(N):
        pub.publish("sh/" + uid, b"%d" % i, qos=1)
    got = collect_split(members, N)
    for m in members:
        got[members.index(m)] += [x.payload for x in m.messages.none_within(0.3)]
    all_payloads = sorted(int(p) for g in got for p in g)
    assert all_payloads == list(range(N)), "each message exactly once across the group: %r" % got
    assert all(len(g) >= 2 for g in got), "messages not spread across members: %r" % got


def test_shared_messages_keep_topic(broker, make_client, uid):
    m = make_client(broker, "m-" + uid, version=5)
    m.subscribe("$share/g/shw/%s/#" % uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("shw/%s/a/b" % uid, b"x", qos=1)
    msg = m.messages.get()
    assert msg.topic == "shw/%s/a/b" % uid and msg.payload == b"x"


def test_two_groups_each_get_every_message(broker, make_client, uid):
    g1 = [make_client(broker, "a%d-%s" % (i, uid), version=5) for i in range(2)]
    g2 = [make_client(broker, "b%d-%s" % (i, uid), version=5) for i in range(2)]
    for m in g1:
        m.subscribe("$share/one/tg/" + uid, qos=1)
    for m in g2:
        m.subscribe("$share/two/tg/" + uid, qos=1)
    plain = make_client(broker, "plain-" + uid, version=5)
    plain.subscribe("tg/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    for i in range(N):
        pub.publish("tg/" + uid, b"%d" % i, qos=1)
    for group in (g1, g2):
        got = collect_split(group, N)
        assert sorted(int(p) for g in got for p in g) == list(range(N))
    assert [int(m.payload) for m in plain.messages.get_n(N)] == list(range(N))
    assert plain.messages.none_within(0.2) == []


def test_member_leaving_leaves_all_to_the_rest(broker, make_client, uid):
    a = make_client(broker, "a-" + uid, version=5)
    b = make_client(broker, "b-" + uid, version=5)
    a.subscribe("$share/g/lv/" + uid, qos=1)
    b.subscribe("$share/g/lv/" + uid, qos=1)
    b.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    for i in range(10):
        pub.publish("lv/" + uid, b"%d" % i, qos=1)
    assert [int(m.payload) for m in a.messages.get_n(10)] == list(range(10))


def test_unsubscribe_shared(broker, make_client, uid):
    a = make_client(broker, "a-" + uid, version=5)
    a.subscribe("$share/g/us/" + uid, qos=1)
    a.subscribe("us-end/" + uid, qos=1)
    assert a.unsubscribe("$share/g/us/" + uid) == [0]
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("us/" + uid, b"gone", qos=1)
    assert barrier(pub, a, "us-end/" + uid) == []


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 sends retained messages to new shared subscriptions")
def test_retained_not_sent_to_new_shared_subscription(broker, make_client, uid):
    """MQTT 5 3.3.1.3: retained messages are sent when a new *non-shared*
    subscription is made; not for shared ones."""
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("shr/" + uid, b"retained", qos=1, retain=True)
    a = make_client(broker, "a-" + uid, version=5)
    a.subscribe("$share/g/shr/" + uid, qos=1)
    a.subscribe("shr-end/" + uid, qos=1)
    assert barrier(pub, a, "shr-end/" + uid) == []


_MOSQ_GRANTS = pytest.mark.tidemq_only(reason="mosquitto 2.0.11 grants this invalid shared filter")


@pytest.mark.parametrize("flt", [
    pytest.param("$share/g", marks=_MOSQ_GRANTS),
    pytest.param("$share//t", marks=_MOSQ_GRANTS),
    pytest.param("$share/g/", marks=_MOSQ_GRANTS),
    "$share/g+/t",
    "$share/g#/t",
])
def test_invalid_shared_filter_not_granted(broker, make_raw, uid, flt):
    c = make_raw(broker, 5, client_id="c-" + uid)
    expect_filter_not_granted(broker, c, flt)


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 accepts No Local on shared subscriptions")
def test_no_local_on_shared_subscription_is_protocol_error(broker, make_raw, uid):
    """MQTT-3.8.3-4: No Local = 1 on a shared subscription is a protocol error."""
    c = make_raw(broker, 5, client_id="c-" + uid)
    c.send(subscribe_packet(1, [("$share/g/nl/" + uid, {"qos": 1, "nl": True})]))
    expect_refused(c, disconnect_rcs=(0x82,))


@pytest.mark.tidemq_only(reason="mqtt.shared_subscription=false has no mosquitto equivalent")
def test_shared_subscriptions_disabled(broker_factory, make_raw, uid):
    b = broker_factory(shared_subscription=False)
    c = make_raw(b, 5, client_id="c-" + uid)
    assert c.connack.props.get("SharedSubscriptionAvailable") == 0, c.connack
    c.send(subscribe_packet(1, [("$share/g/t", {"qos": 1}), ("normal/t", {"qos": 1})]))
    p = c.recv(5)
    if p.type == SUBACK:
        assert p.rcs == [0x9E, 1], p
    else:  # MQTT-3.8.3 also allows DISCONNECT 0x9E
        assert p.type == 14 and p.rc == 0x9E, p
