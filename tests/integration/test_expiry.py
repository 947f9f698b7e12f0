"""Message Expiry Interval: passed on, decremented while queued, expired
messages dropped (queued and retained).

Time passing on the broker is observed through the broker itself: a retained
"clock" message with a Message Expiry Interval of 1 s disappears once the
broker considers that second gone.  No fixed sleeps."""

import time

import pytest

from mqttraw import PUBLISH, RawClient
from mqtthelpers import barrier

PERSIST5 = {"SessionExpiryInterval": 300}


def retained_present(broker, topic, timeout=5):
    """Subscribe a fresh client to `topic` plus a retained marker; return the
    retained PUBLISH on `topic` (or None) received before the marker."""
    marker_topic = topic + "/__marker"
    c = RawClient(broker.host, broker.port, 5)
    try:
        c.connect("poll-%d" % int(time.monotonic() * 1e6))
        c.publish(marker_topic, b"marker", qos=0, retain=True)
        c.subscribe([(topic, {"qos": 1}), (marker_topic, {"qos": 1})], timeout=timeout)
        found = None
        deadline = time.monotonic() + timeout
        while True:
            p = c.recv(max(deadline - time.monotonic(), 0.01))
            if p.type != PUBLISH:
                continue
            if p.topic == marker_topic:
                return found
            if p.topic == topic:
                found = p
    finally:
        c.close()


def wait_until_expired(broker, topic, timeout=7):
    """Poll until the retained message on `topic` is gone; returns seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while retained_present(broker, topic) is not None:
        if time.monotonic() > deadline:
            raise AssertionError("retained message on %s did not expire within %.0fs" % (topic, timeout))
        time.sleep(0.05)
    return time.monotonic() - t0


def start_clock(pub, uid, seconds=1):
    topic = "clock/" + uid
    pub.publish(topic, b"tick", qos=1, retain=True, props={"MessageExpiryInterval": seconds})
    return topic


def test_expiry_interval_passed_to_live_subscriber(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("mx/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("mx/" + uid, b"e", qos=1, props={"MessageExpiryInterval": 60})
    pub.publish("mx/" + uid, b"n", qos=1)
    e, n = sub.messages.get_n(2)
    assert 58 <= e.props.get("MessageExpiryInterval", -1) <= 60, e.props
    assert "MessageExpiryInterval" not in n.props


def test_retained_message_expires(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    t0 = time.monotonic()
    pub.publish("rx/" + uid, b"short", qos=1, retain=True, props={"MessageExpiryInterval": 2})
    first = retained_present(broker, "rx/" + uid)
    assert time.monotonic() - t0 < 0.9, "machine too slow for this check"
    assert first is not None and first.payload == b"short", "retained message vanished immediately"
    wait_until_expired(broker, "rx/" + uid)
    assert time.monotonic() - t0 >= 0.9, "retained message with expiry 2s dropped too early"


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 counts expiry in whole wall-clock seconds")
def test_retained_message_expires_on_time(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    t0 = time.monotonic()
    pub.publish("rxt/" + uid, b"short", qos=1, retain=True, props={"MessageExpiryInterval": 1})
    waited = wait_until_expired(broker, "rxt/" + uid)
    elapsed = time.monotonic() - t0
    assert 0.95 <= elapsed <= 2.0, "expiry 1s, dropped after %.2fs (polled %.2fs)" % (elapsed, waited)


def test_retained_remaining_expiry_is_decremented(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rxd/" + uid, b"ten", qos=1, retain=True, props={"MessageExpiryInterval": 10})
    clock = start_clock(pub, uid)
    wait_until_expired(broker, clock)
    p = retained_present(broker, "rxd/" + uid)
    assert p is not None and p.payload == b"ten"
    assert 1 <= p.props.get("MessageExpiryInterval", 0) <= 9, \
        "remaining lifetime should be decremented: %r" % p.props


@pytest.mark.parametrize("version", [4, 5])
def test_queued_message_expires_while_offline(broker, make_client, uid, version):
    kw = {"clean": False, "props": dict(PERSIST5)} if version == 5 else {"clean": False}
    sub = make_client(broker, "s-" + uid, version=version, **kw)
    sub.subscribe("qx/" + uid, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("qx/" + uid, b"short", qos=1, props={"MessageExpiryInterval": 1})
    pub.publish("qx/" + uid, b"long", qos=1, props={"MessageExpiryInterval": 300})
    pub.publish("qx/" + uid, b"forever", qos=1)
    # a 2 s clock: once it is gone, the 1 s message is strictly past its expiry
    # even for a broker that counts in whole seconds
    clock = start_clock(pub, uid, seconds=2)
    wait_until_expired(broker, clock)
    sub2 = make_client(broker, "s-" + uid, version=version, **kw)
    assert sub2.session_present
    sub2.subscribe("qx-end/" + uid, qos=1)
    got = barrier(pub, sub2, "qx-end/" + uid)
    assert [m.payload for m in got] == [b"long", b"forever"], got


def test_queued_message_expiry_is_decremented(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5, clean=False, props=dict(PERSIST5))
    sub.subscribe("qxd/" + uid, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("qxd/" + uid, b"q", qos=1, props={"MessageExpiryInterval": 30})
    clock = start_clock(pub, uid)
    wait_until_expired(broker, clock)
    sub2 = make_client(broker, "s-" + uid, version=5, clean=False, props=dict(PERSIST5))
    m = sub2.messages.get()
    assert m.payload == b"q"
    assert 20 <= m.props.get("MessageExpiryInterval", -1) <= 29, \
        "expiry must be decremented by the time spent queued: %r" % m.props
