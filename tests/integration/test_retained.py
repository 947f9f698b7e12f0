"""Retained messages, retain handling, retain-as-published, no-local,
retain_available=false."""

import pytest

from mqttraw import CONNACK, PUBLISH, connect_packet
from mqtthelpers import expect_refused

VERSIONS = [4, 5]


def retained_barrier(pub, sub, token):
    """Subscribe `sub` to a fresh topic holding a retained marker and return what
    `sub` received before the marker (the broker answers SUBSCRIBEs in order)."""
    topic = "rbarrier/" + token
    pub.publish(topic, b"marker", qos=1, retain=True)
    sub.subscribe(topic, qos=1)
    m, before = sub.messages.get_until(lambda m: m.topic == topic)
    return before


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_delivered_to_new_subscriber(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish("ret/" + uid, b"kept", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("ret/" + uid, qos=1)
    m = sub.messages.get()
    assert (m.payload, m.retain, m.qos) == (b"kept", True, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_live_delivery_has_retain_flag_cleared(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("retlive/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish("retlive/" + uid, b"x", qos=1, retain=True)
    m = sub.messages.get()
    assert m.payload == b"x" and m.retain is False


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_is_replaced(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish("rep/" + uid, b"old", qos=1, retain=True)
    pub.publish("rep/" + uid, b"new", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("rep/" + uid, qos=1)
    assert sub.messages.get().payload == b"new"
    assert retained_barrier(pub, sub, uid) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_retained_payload_clears(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    live = make_client(broker, "l-" + uid, version=version)
    live.subscribe("clr/" + uid, qos=1)
    pub.publish("clr/" + uid, b"old", qos=1, retain=True)
    pub.publish("clr/" + uid, b"", qos=1, retain=True)
    # the clearing message itself is delivered to current subscribers as normal
    assert [m.payload for m in live.messages.get_n(2)] == [b"old", b""]
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("clr/" + uid, qos=1)
    assert retained_barrier(pub, sub, uid) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_wildcard_subscription_gets_all_retained(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    for t in ("a", "b/c", "d/e/f"):
        pub.publish("rw/%s/%s" % (uid, t), t.encode(), qos=1, retain=True)
    pub.publish("rw-other/%s" % uid, b"no", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("rw/%s/#" % uid, qos=1)
    got = sub.messages.get_n(3)
    assert sorted(m.payload for m in got) == [b"a", b"b/c", b"d/e/f"]
    assert all(m.retain for m in got)
    assert retained_barrier(pub, sub, uid) == []


@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_retained_qos_is_minimum(broker, make_client, uid, sub_qos):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rq/" + uid, b"x", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rq/" + uid, qos=sub_qos)
    assert sub.messages.get().qos == min(1, sub_qos)


def test_retained_from_qos0_publish(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=4)
    pub.publish("rq0/" + uid, b"zero", qos=0, retain=True)
    # QoS 0 publish gives no ack: make sure it was processed via a QoS 1 round trip
    pub.subscribe("rq0-sync/" + uid, qos=1)
    pub.publish("rq0-sync/" + uid, b"sync", qos=1)
    pub.messages.get()
    sub = make_client(broker, "s-" + uid, version=4)
    sub.subscribe("rq0/" + uid, qos=1)
    m = sub.messages.get()
    assert (m.payload, m.qos, m.retain) == (b"zero", 0, True)


# --- MQTT 5 subscription options ---------------------------------------------------

def test_retain_handling_0_sends_on_every_subscribe(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rh0/" + uid, b"r", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rh0/" + uid, qos=1, rh=0)
    assert sub.messages.get().retain
    sub.subscribe("rh0/" + uid, qos=1, rh=0)
    m = sub.messages.get()
    assert m.payload == b"r" and m.retain


def test_retain_handling_1_sends_only_for_new_subscription(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rh1/" + uid, b"r", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rh1/" + uid, qos=1, rh=1)
    assert sub.messages.get().payload == b"r"
    sub.subscribe("rh1/" + uid, qos=1, rh=1)  # already exists: no retained
    assert retained_barrier(pub, sub, uid) == []


def test_retain_handling_2_never_sends(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rh2/" + uid, b"r", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rh2/" + uid, qos=1, rh=2)
    assert retained_barrier(pub, sub, uid) == []
    pub.publish("rh2/" + uid, b"live", qos=1)
    assert sub.messages.get().payload == b"live"


@pytest.mark.parametrize("rap", [False, True])
def test_retain_as_published(broker, make_client, uid, rap):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rap/" + uid, qos=1, rap=rap)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rap/" + uid, b"r", qos=1, retain=True)
    pub.publish("rap/" + uid, b"n", qos=1, retain=False)
    a, b = sub.messages.get_n(2)
    assert (a.payload, a.retain) == (b"r", rap)
    assert (b.payload, b.retain) == (b"n", False)


def test_retain_as_published_does_not_affect_retained_on_subscribe(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("rap2/" + uid, b"r", qos=1, retain=True)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("rap2/" + uid, qos=1, rap=False)
    assert sub.messages.get().retain is True


def test_no_local(broker, make_client, uid):
    me = make_client(broker, "me-" + uid, version=5)
    me.subscribe("nl/" + uid, qos=1, no_local=True)
    other = make_client(broker, "o-" + uid, version=5)
    me.publish("nl/" + uid, b"mine", qos=1)
    other.publish("nl/" + uid, b"theirs", qos=1)
    m = me.messages.get()
    assert m.payload == b"theirs", "no-local subscription received its own message"
    assert me.messages.none_within(0.3) == []


def test_without_no_local_own_messages_are_received(broker, make_client, uid):
    me = make_client(broker, "me-" + uid, version=5)
    me.subscribe("nl0/" + uid, qos=1, no_local=False)
    me.publish("nl0/" + uid, b"mine", qos=1)
    assert me.messages.get().payload == b"mine"


# --- retain_available = false ------------------------------------------------------

def test_retain_unavailable_is_advertised(broker_factory, make_raw):
    b = broker_factory(retain_available=False)
    c = make_raw(b, 5)
    ack = c.connect("ra")
    assert ack.rc == 0 and ack.props.get("RetainAvailable") == 0, ack


def test_retain_unavailable_publish_retain_gets_0x9a(broker_factory, make_raw):
    b = broker_factory(retain_available=False)
    c = make_raw(b, 5, client_id="ra-pub")
    c.publish("ra/t", b"x", qos=1, retain=True)
    pkts = expect_refused(c, disconnect_rcs=(0x9A,))
    assert [p.rc for p in pkts] == [0x9A], pkts


def test_retain_unavailable_will_retain_is_refused(broker_factory, make_raw):
    b = broker_factory(retain_available=False)
    c = make_raw(b, 5)
    c.send(connect_packet("ra-will", will={"topic": "w", "payload": b"x", "retain": True}))
    pkts = expect_refused(c, connack_rcs=(0x9A,))
    assert [p.rc for p in pkts] == [0x9A], "MQTT-3.2.2-13: CONNACK 0x9A expected, got %r" % pkts


def test_retain_unavailable_non_retained_still_works(broker_factory, make_client, uid):
    b = broker_factory(retain_available=False)
    sub = make_client(b, "s-" + uid, version=5)
    sub.subscribe("ra/" + uid, qos=1)
    pub = make_client(b, "p-" + uid, version=5)
    pub.publish("ra/" + uid, b"ok", qos=1)
    assert sub.messages.get().payload == b"ok"
