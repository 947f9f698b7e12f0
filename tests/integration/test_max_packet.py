"""Maximum packet size in both directions."""

import pytest

from mqttraw import Closed, PUBACK, PUBLISH, connect_packet, payload_len_for_size, publish_of_size
from mqtthelpers import assert_serving, barrier, expect_refused

LIMIT = 1024


@pytest.fixture
def small_broker(broker_factory):
    return broker_factory(max_packet_size=LIMIT)


def test_connack_advertises_maximum_packet_size(small_broker, make_raw):
    c = make_raw(small_broker, 5, client_id="mps")
    assert c.connack.props.get("MaximumPacketSize") == LIMIT, c.connack


def test_v5_publish_below_limit_is_accepted(small_broker, make_raw):
    c = make_raw(small_broker, 5, client_id="ok")
    c.send(publish_of_size(1000, "ok/t", qos=1, pid=5))
    ack = c.expect(PUBACK)
    assert ack.pid == 5 and (ack.rc or 0) < 0x80


def test_v5_publish_above_limit_gets_0x95(small_broker, make_raw):
    c = make_raw(small_broker, 5, client_id="big")
    c.send(publish_of_size(2000, "big/t", qos=1, pid=5))
    pkts = expect_refused(c, disconnect_rcs=(0x95,))
    assert [p.rc for p in pkts] == [0x95], pkts
    assert_serving(small_broker)


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 lets packets a few bytes over max_packet_size through")
def test_v5_publish_exact_boundary(small_broker, make_raw):
    ok = make_raw(small_broker, 5, client_id="exact")
    ok.send(publish_of_size(LIMIT, "e/t", qos=1, pid=1))
    assert ok.expect(PUBACK).pid == 1, "a packet of exactly max_packet_size bytes is allowed"
    over = make_raw(small_broker, 5, client_id="over")
    over.send(publish_of_size(LIMIT + 1, "e/t", qos=1, pid=1))
    pkts = expect_refused(over, disconnect_rcs=(0x95,))
    assert [p.rc for p in pkts] == [0x95], pkts


def test_v311_publish_above_limit_closes(small_broker, make_raw):
    c = make_raw(small_broker, 4, client_id="big3")
    c.send(publish_of_size(2000, "big/t", qos=1, pid=5, version=4))
    expect_refused(c)
    assert_serving(small_broker, version=4)


@pytest.mark.parametrize("version", [4, 5])
def test_oversized_connect_is_refused(small_broker, make_raw, version):
    c = make_raw(small_broker, version)
    c.send(connect_packet("huge-will", version=version, will={"topic": "w", "payload": b"x" * 3000}))
    expect_refused(c, connack_rcs=(0x95,) if version == 5 else ())
    assert_serving(small_broker)


@pytest.mark.tidemq_only(reason="tidemq default mqtt.max_packet_size is 1 MiB; mosquitto's default is unlimited")
def test_default_limit_is_one_mebibyte(broker, make_raw):
    ok = make_raw(broker, 5, client_id="mib-ok")
    ok.send(publish_of_size(1048576, "m/t", qos=1, pid=1))
    assert ok.expect(PUBACK, timeout=10).pid == 1
    over = make_raw(broker, 5, client_id="mib-over")
    try:
        over.send(publish_of_size(1048577, "m/t", qos=1, pid=1))
    except Closed:
        pass  # refused as soon as the fixed header announced the size: fine
    expect_refused(over, disconnect_rcs=(0x95,), timeout=10)


def test_large_publish_under_default_limit(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("lg/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    payload = b"z" * (512 * 1024)
    pub.publish("lg/" + uid, payload, qos=1)
    assert sub.messages.get(timeout=10).payload == payload


# --- the client's Maximum Packet Size ------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1])
def test_message_larger_than_client_maximum_is_not_sent(broker, make_client, uid, qos):
    sub = make_client(broker, "s-" + uid, version=5, props={"MaximumPacketSize": 200})
    sub.subscribe("cmp/" + uid, qos=qos)
    sub.subscribe("cmp-end/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("cmp/" + uid, b"x" * 500, qos=qos)
    pub.publish("cmp/" + uid, b"small", qos=qos)
    before = barrier(pub, sub, "cmp-end/" + uid)
    assert [m.payload for m in before] == [b"small"], before


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 sends packets one byte over the client's Maximum Packet Size")
def test_client_maximum_exact_boundary(broker, make_raw, make_client, uid):
    topic = "cmx/" + uid
    size = 300
    payload_fits = b"y" * payload_len_for_size(size, topic, qos=0)
    sub = make_raw(broker, 5, client_id="s-" + uid, props={"MaximumPacketSize": size})
    sub.subscribe(topic, qos=0)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish(topic, payload_fits + b"!", qos=0)  # one byte too many
    pub.publish(topic, payload_fits, qos=0)          # exactly the client's maximum
    p, skipped = sub.recv_until(lambda p: p.type == PUBLISH)
    assert len(p.payload) == len(payload_fits), "the one-byte-too-big message was sent: %r" % p
    assert skipped == []


def test_retained_larger_than_client_maximum_is_not_sent(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("cmr/%s/big" % uid, b"x" * 500, qos=1, retain=True)
    pub.publish("cmr/%s/small" % uid, b"s", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5, props={"MaximumPacketSize": 200})
    sub.subscribe("cmr/%s/+" % uid, qos=1)
    sub.subscribe("cmr-end/" + uid, qos=1)
    before = barrier(pub, sub, "cmr-end/" + uid)
    assert [m.payload for m in before] == [b"s"], before
