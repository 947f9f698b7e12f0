"""Topic aliases in both directions (MQTT 5)."""

import pytest

from mqttraw import PUBACK, PUBLISH
from mqtthelpers import assert_serving, expect_refused


def resolve(pkts):
    """Resolve topic aliases of raw PUBLISH packets as a client must; returns
    the list of (topic, payload) and asserts the broker never uses an alias
    it did not define first."""
    table, out = {}, []
    for p in pkts:
        alias = p.props.get("TopicAlias")
        topic = p.topic
        if alias is not None:
            if topic:
                table[alias] = topic
            else:
                assert alias in table, "broker used alias %d before defining it: %r" % (alias, p)
                topic = table[alias]
        else:
            assert topic, "PUBLISH with empty topic and no alias: %r" % p
        out.append((topic, p.payload))
    return out


def read_publishes(c, n, timeout=5):
    got = []
    while len(got) < n:
        p, _ = c.recv_until(lambda p: p.type == PUBLISH, timeout)
        if p.qos:
            c.puback(p.pid)
        got.append(p)
    return got


# --- client -> broker -------------------------------------------------------------

def test_inbound_alias_set_and_use(broker, make_raw, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("al/#", qos=1)
    c = make_raw(broker, 5, client_id="c-" + uid)
    assert c.connack.props.get("TopicAliasMaximum", 0) >= 1
    c.publish("al/" + uid, b"1", qos=1, props={"TopicAlias": 1})
    c.publish("", b"2", qos=1, props={"TopicAlias": 1})
    c.publish("", b"3", qos=1, props={"TopicAlias": 1})
    acks = [c.expect(PUBACK) for _ in range(3)]
    assert all((a.rc or 0) < 0x80 for a in acks), acks
    got = sub.messages.get_n(3)
    assert [(m.topic, m.payload) for m in got] == [("al/" + uid, b"1"), ("al/" + uid, b"2"), ("al/" + uid, b"3")]
    assert all("TopicAlias" not in m.props for m in got), "alias leaked to a client that allows none"


def test_inbound_alias_can_be_remapped(broker, make_raw, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("alr/%s/#" % uid, qos=1)
    c = make_raw(broker, 5, client_id="c-" + uid)
    c.publish("alr/%s/a" % uid, b"1", qos=1, props={"TopicAlias": 1})
    c.publish("alr/%s/b" % uid, b"2", qos=1, props={"TopicAlias": 1})
    c.publish("", b"3", qos=1, props={"TopicAlias": 1})
    got = sub.messages.get_n(3)
    assert [m.topic for m in got] == ["alr/%s/a" % uid, "alr/%s/b" % uid, "alr/%s/b" % uid]


def test_inbound_alias_above_maximum_gets_0x94(broker_factory, make_raw, uid):
    b = broker_factory(max_topic_alias=2)
    c = make_raw(b, 5, client_id="c-" + uid)
    assert c.connack.props.get("TopicAliasMaximum") == 2, c.connack
    c.publish("ok/" + uid, b"x", qos=1, props={"TopicAlias": 2})
    assert c.expect(PUBACK).rc < 0x80
    c.publish("bad/" + uid, b"x", qos=1, props={"TopicAlias": 3})
    pkts = expect_refused(c, disconnect_rcs=(0x94,))
    assert [p.rc for p in pkts] == [0x94], pkts
    assert_serving(b)


def test_inbound_alias_zero_gets_0x94(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="c-" + uid)
    c.publish("zero/" + uid, b"x", qos=1, props={"TopicAlias": 0})
    # 0x94 per 3.3.2.3.4; an invalid property value may also be reported as malformed
    pkts = expect_refused(c, disconnect_rcs=(0x94, 0x82, 0x81))
    assert len(pkts) == 1, "MQTT 5 server-initiated close must send DISCONNECT first: %r" % pkts


def test_inbound_unknown_alias_is_protocol_error(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="c-" + uid)
    c.publish("", b"x", qos=1, props={"TopicAlias": 1})
    expect_refused(c, disconnect_rcs=(0x82,))
    assert_serving(broker)


def test_inbound_aliases_do_not_survive_reconnect(broker, make_raw, uid):
    kw = {"clean": False, "props": {"SessionExpiryInterval": 60}}
    c = make_raw(broker, 5, client_id="c-" + uid, **kw)
    c.publish("alx/" + uid, b"x", qos=1, props={"TopicAlias": 1})
    c.expect(PUBACK)
    c.close()
    c2 = make_raw(broker, 5, client_id="c-" + uid, **kw)
    c2.publish("", b"x", qos=1, props={"TopicAlias": 1})
    expect_refused(c2, disconnect_rcs=(0x82,))


def test_topic_alias_maximum_zero_disables_inbound_aliases(broker_factory, make_raw, uid):
    b = broker_factory(max_topic_alias=0)
    c = make_raw(b, 5, client_id="c-" + uid)
    assert c.connack.props.get("TopicAliasMaximum", 0) == 0, c.connack
    c.publish("t/" + uid, b"x", qos=1, props={"TopicAlias": 1})
    expect_refused(c, disconnect_rcs=(0x94,))


# --- broker -> client -------------------------------------------------------------

def test_no_outbound_alias_without_client_topic_alias_maximum(broker, make_raw, make_client, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid)
    sub.subscribe("noal/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    for i in range(5):
        pub.publish("noal/" + uid, b"%d" % i, qos=1)
    for p in read_publishes(sub, 5):
        assert p.topic == "noal/" + uid and "TopicAlias" not in p.props, p


def test_outbound_aliases_resolve_and_respect_client_maximum(broker, make_raw, make_client, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"TopicAliasMaximum": 2})
    sub.subscribe("oam/%s/#" % uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    expected = []
    for rnd in range(3):
        for t in range(5):
            topic = "oam/%s/t%d" % (uid, t)
            pub.publish(topic, b"%d-%d" % (rnd, t), qos=1)
            expected.append((topic, b"%d-%d" % (rnd, t)))
    pkts = read_publishes(sub, len(expected))
    for p in pkts:
        alias = p.props.get("TopicAlias")
        assert alias is None or 1 <= alias <= 2, "alias %r above the client's maximum 2" % alias
    assert resolve(pkts) == expected


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 does not assign outbound topic aliases")
def test_broker_assigns_outbound_alias(broker, make_raw, make_client, uid):
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"TopicAliasMaximum": 5})
    sub.subscribe("oa/%s/+" % uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    for i in range(3):
        pub.publish("oa/%s/x" % uid, b"%d" % i, qos=1)
    pub.publish("oa/%s/y" % uid, b"y", qos=1)
    p = read_publishes(sub, 4)
    assert p[0].topic == "oa/%s/x" % uid and 1 <= p[0].props.get("TopicAlias", 0) <= 5, p[0]
    alias = p[0].props["TopicAlias"]
    for later in p[1:3]:
        assert later.topic == "" and later.props.get("TopicAlias") == alias, \
            "later publishes on the same topic should use the alias alone: %r" % later
    assert p[3].topic == "oa/%s/y" % uid and p[3].props.get("TopicAlias") not in (None, alias), p[3]
    assert resolve(p) == [("oa/%s/x" % uid, b"0"), ("oa/%s/x" % uid, b"1"),
                          ("oa/%s/x" % uid, b"2"), ("oa/%s/y" % uid, b"y")]


def test_paho_client_sees_correct_topics_with_aliases_allowed(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5, props={"TopicAliasMaximum": 10})
    sub.subscribe("pa/%s/#" % uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    expected = []
    for rnd in range(3):
        for t in ("a", "b", "c/d"):
            topic = "pa/%s/%s" % (uid, t)
            pub.publish(topic, b"%d" % rnd, qos=1)
            expected.append((topic, b"%d" % rnd))
    got = sub.messages.get_n(len(expected))
    assert [(m.topic, m.payload) for m in got] == expected
