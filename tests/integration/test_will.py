"""Will messages: immediate, delayed (Will Delay Interval), suppressed,
with properties, on keep-alive timeout, protocol error and broker shutdown."""

import time

import pytest

import mqttraw
from mqttraw import PUBLISH
from mqtthelpers import expect_refused

PERSIST5 = {"SessionExpiryInterval": 300}


def will(topic, payload=b"gone", qos=1, retain=False, delay=None, props=None):
    p = dict(props or {})
    if delay is not None:
        p["WillDelayInterval"] = delay
    return {"topic": topic, "payload": payload, "qos": qos, "retain": retain, "props": p or None}


@pytest.fixture
def watcher(broker, make_client, uid):
    w = make_client(broker, "watch-" + uid, version=5)
    w.subscribe("will/#", qos=2)
    return w


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_will_published_when_connection_drops(broker, make_raw, watcher, uid, version, qos):
    c = make_raw(broker, version, client_id="c-" + uid, will=will("will/" + uid, b"bye", qos=qos))
    c.close()
    m = watcher.messages.get()
    assert (m.topic, m.payload, m.qos, m.retain) == ("will/" + uid, b"bye", qos, False)


@pytest.mark.parametrize("version", [4, 5])
def test_will_not_published_on_normal_disconnect(broker, make_raw, watcher, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid, will=will("will/" + uid, b"must-not"))
    c.disconnect()
    control = make_raw(broker, version, client_id="ctl-" + uid, will=will("will/control", b"control"))
    control.close()
    m, before = watcher.messages.get_until(lambda m: m.payload == b"control")
    assert before == [], "will published after a normal DISCONNECT: %r" % before


def test_v5_disconnect_with_will_message_reason_publishes_will(broker, make_raw, watcher, uid):
    c = make_raw(broker, 5, client_id="c-" + uid, will=will("will/" + uid, b"asked-for"))
    c.disconnect(0x04)
    assert watcher.messages.get().payload == b"asked-for"


@pytest.mark.parametrize("version", [4, 5])
def test_retained_will(broker, make_raw, make_client, watcher, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid, will=will("will/" + uid, b"kept", retain=True))
    c.close()
    live = watcher.messages.get()
    assert live.payload == b"kept"
    late = make_client(broker, "late-" + uid, version=version)
    late.subscribe("will/" + uid, qos=1)
    m = late.messages.get()
    assert m.payload == b"kept" and m.retain is True


def test_will_delay_interval_is_honoured(broker, make_raw, watcher, uid):
    c = make_raw(broker, 5, client_id="c-" + uid, clean=False, props=dict(PERSIST5),
                 will=will("will/" + uid, b"late", delay=2))
    t0 = time.monotonic()
    c.close()
    m = watcher.messages.get(timeout=6)
    elapsed = time.monotonic() - t0
    assert m.payload == b"late"
    assert 1.8 <= elapsed <= 3.2, "will published %.2fs after the close, Will Delay Interval is 2s" % elapsed


@pytest.mark.tidemq_only(reason="to-the-second precision; mosquitto's timers are coarser")
def test_will_delay_interval_to_the_second(broker, make_raw, watcher, uid):
    c = make_raw(broker, 5, client_id="c-" + uid, clean=False, props=dict(PERSIST5),
                 will=will("will/" + uid, b"late", delay=2))
    t0 = time.monotonic()
    c.close()
    watcher.messages.get(timeout=6)
    elapsed = time.monotonic() - t0
    assert 1.9 <= elapsed <= 2.5, "will published %.2fs after the close, expected 2s" % elapsed


def test_will_delay_suppressed_by_reconnect(broker, make_raw, watcher, uid):
    c = make_raw(broker, 5, client_id="c-" + uid, clean=False, props=dict(PERSIST5),
                 will=will("will/" + uid, b"must-not", delay=1))
    control = make_raw(broker, 5, client_id="ctl-" + uid, clean=False, props=dict(PERSIST5),
                       will=will("will/control", b"control", delay=1))
    c.close()
    back = make_raw(broker, 5, client_id="c-" + uid, clean=False, props=dict(PERSIST5))
    assert back.connack.session_present
    control.close()
    m, before = watcher.messages.get_until(lambda m: m.payload == b"control", timeout=6)
    assert before == [], "will published although the client came back within the delay"
    assert watcher.messages.none_within(0.5) == []


def test_will_delay_longer_than_session_expiry(broker, make_raw, watcher, uid):
    """The will is published when the session ends, if that comes first."""
    c = make_raw(broker, 5, client_id="c-" + uid, clean=False, props={"SessionExpiryInterval": 1},
                 will=will("will/" + uid, b"session-end", delay=60))
    t0 = time.monotonic()
    c.close()
    assert watcher.messages.get(timeout=6).payload == b"session-end"
    assert time.monotonic() - t0 <= 3.0


def test_will_properties_are_passed_through(broker, make_raw, watcher, uid):
    props = {
        "PayloadFormatIndicator": 1,
        "ContentType": "text/plain",
        "ResponseTopic": "reply/here",
        "CorrelationData": b"\x00\x01corr",
        "UserProperty": [("k1", "v1"), ("k2", "v2"), ("k1", "v3")],
        "MessageExpiryInterval": 120,
    }
    c = make_raw(broker, 5, client_id="c-" + uid, will=will("will/" + uid, "héllo".encode(), props=props))
    c.close()
    m = watcher.messages.get()
    assert m.payload == "héllo".encode()
    assert m.props.get("PayloadFormatIndicator") == 1
    assert m.props.get("ContentType") == "text/plain"
    assert m.props.get("ResponseTopic") == "reply/here"
    assert m.props.get("CorrelationData") == b"\x00\x01corr"
    assert m.props.get("UserProperty") == [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]
    assert 0 < m.props.get("MessageExpiryInterval", 0) <= 120


@pytest.mark.parametrize("version", [4, 5])
def test_will_published_on_keepalive_timeout(broker, make_raw, watcher, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid, keepalive=1, will=will("will/" + uid, b"timeout"))
    m = watcher.messages.get(timeout=8)
    assert m.payload == b"timeout"
    c.close()


@pytest.mark.parametrize("version", [4, 5])
def test_will_published_on_protocol_error(broker, make_raw, watcher, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid, will=will("will/" + uid, b"malformed"))
    c.send(bytes([0x36, 0x03, 0x00, 0x01, 0x61]))  # PUBLISH with QoS 3
    expect_refused(c, disconnect_rcs=(0x81, 0x82))
    assert watcher.messages.get().payload == b"malformed"


def test_will_with_empty_payload(broker, make_raw, watcher, uid):
    c = make_raw(broker, 5, client_id="c-" + uid, will=will("will/" + uid, b""))
    c.close()
    m = watcher.messages.get()
    assert m.topic == "will/" + uid and m.payload == b""


@pytest.mark.parametrize("version", [4, 5])
def test_wills_published_on_broker_shutdown(broker, make_raw, uid, version):
    """SIGTERM: the broker publishes the wills of connected clients before it
    closes the subscribers' connections."""
    sub = make_raw(broker, version, client_id="watch-" + uid)
    sub.subscribe("will/#", qos=1)
    make_raw(broker, 5, client_id="c5-" + uid, will=will("will/v5", b"bye5"))
    make_raw(broker, 4, client_id="c4-" + uid, will=will("will/v4", b"bye4"))
    assert broker.stop() == 0
    pkts = sub.wait_closed()
    got = sorted(p.payload for p in pkts if p.type == PUBLISH)
    assert got == [b"bye4", b"bye5"], pkts
    assert all(p.type in (PUBLISH, mqttraw.DISCONNECT) for p in pkts), pkts
