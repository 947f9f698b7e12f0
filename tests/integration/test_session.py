"""Persistent sessions, offline queueing, clean session / clean start,
session expiry, redelivery with DUP after reconnect."""

import time

import pytest

import mqttraw
from mqttraw import PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL
from mqtthelpers import barrier, expect_refused

V5_PERSIST = {"SessionExpiryInterval": 300}


def persistent(version):
    """Keyword arguments for make_client/make_raw giving a persistent session."""
    if version == 5:
        return {"clean": False, "props": dict(V5_PERSIST)}
    return {"clean": False}


@pytest.mark.parametrize("version", [4, 5])
def test_first_persistent_connect_has_no_session_present(broker, make_client, uid, version):
    c = make_client(broker, "c-" + uid, version=version, **persistent(version))
    assert c.session_present is False


@pytest.mark.parametrize("version", [4, 5])
def test_persistent_session_queues_while_offline(broker, make_client, uid, version):
    topic = "sess/" + uid
    sub = make_client(broker, "s-" + uid, version=version, **persistent(version))
    sub.subscribe(topic, qos=2)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"q1-a", qos=1)
    pub.publish(topic, b"q2-b", qos=2)
    pub.publish(topic, b"q1-c", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=version, **persistent(version))
    assert sub2.session_present is True
    msgs = sub2.messages.get_n(3)
    # (paho hands QoS 2 messages over only at PUBREL, so compare as a set)
    assert sorted((m.payload, m.qos) for m in msgs) == [(b"q1-a", 1), (b"q1-c", 1), (b"q2-b", 2)]
    assert [m.payload for m in msgs if m.qos == 1] == [b"q1-a", b"q1-c"]
    # the subscription itself survived too
    pub.publish(topic, b"live", qos=1)
    assert sub2.messages.get().payload == b"live"


@pytest.mark.parametrize("version", [4, 5])
def test_persistent_session_survives_network_drop(broker, make_client, uid, version):
    topic = "drop/" + uid
    sub = make_client(broker, "s-" + uid, version=version, **persistent(version))
    sub.subscribe(topic, qos=1)
    sub.drop()
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"while-dropped", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=version, **persistent(version))
    assert sub2.session_present is True
    assert sub2.messages.get().payload == b"while-dropped"


@pytest.mark.parametrize("version", [4, 5])
def test_many_queued_messages_arrive_in_order(broker, make_client, uid, version):
    topic = "many/" + uid
    sub = make_client(broker, "s-" + uid, version=version, **persistent(version))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=version)
    mids = [pub.publish(topic, b"%d" % i, qos=1, wait=False) for i in range(100)]
    for mid in mids:
        pub.wait_published(mid)
    sub2 = make_client(broker, "s-" + uid, version=version, **persistent(version))
    got = sub2.messages.get_n(100, timeout=10)
    assert [int(m.payload) for m in got] == list(range(100))


def test_v311_clean_session_discards_previous_session(broker, make_client, uid):
    topic = "clean3/" + uid
    sub = make_client(broker, "s-" + uid, version=4, clean=False)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=4)
    pub.publish(topic, b"stale", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=4, clean=True)
    assert sub2.session_present is False
    sub2.subscribe("clean3b/" + uid, qos=1)
    assert barrier(pub, sub2, "clean3b/" + uid) == []
    sub2.disconnect()
    # the clean session is not kept either
    sub3 = make_client(broker, "s-" + uid, version=4, clean=False)
    assert sub3.session_present is False
    pub.publish(topic, b"no-subscription-any-more", qos=1)
    sub3.subscribe("clean3c/" + uid, qos=1)
    assert barrier(pub, sub3, "clean3c/" + uid) == []


def test_v5_clean_start_discards_previous_session(broker, make_client, uid):
    topic = "clean5/" + uid
    sub = make_client(broker, "s-" + uid, version=5, **persistent(5))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish(topic, b"stale", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=5, clean=True, props=dict(V5_PERSIST))
    assert sub2.session_present is False
    sub2.subscribe("clean5b/" + uid, qos=1)
    assert barrier(pub, sub2, "clean5b/" + uid) == []
    pub.publish(topic, b"old-subscription-gone", qos=1)
    assert barrier(pub, sub2, "clean5b/" + uid) == []


def test_v5_session_expiry_zero_ends_session_at_disconnect(broker, make_client, uid):
    topic = "exp0/" + uid
    sub = make_client(broker, "s-" + uid, version=5, clean=False)  # no SessionExpiryInterval = 0
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish(topic, b"stale", qos=1)
    sub2 = make_client(broker, "s-" + uid, version=5, clean=False, props=dict(V5_PERSIST))
    assert sub2.session_present is False
    sub2.subscribe("exp0b/" + uid, qos=1)
    assert barrier(pub, sub2, "exp0b/" + uid) == []


def test_v5_session_expiry_one_second(broker, make_client, make_raw, uid):
    """Session Expiry Interval 1 s: the session ends ~1 s after the connection.
    Observed through the will (delay 30 s), which the spec says is published
    when the session ends if that is earlier than the will delay."""
    watcher = make_client(broker, "w-" + uid, version=5)
    watcher.subscribe("sexp/will/" + uid, qos=1)
    c = make_raw(broker, 5, client_id="s-" + uid, clean=False,
                 props={"SessionExpiryInterval": 1},
                 will={"topic": "sexp/will/" + uid, "payload": b"session-ended", "qos": 1,
                       "props": {"WillDelayInterval": 30}})
    c.subscribe("sexp/t/" + uid, qos=1)
    t0 = time.monotonic()
    c.close()
    m = watcher.messages.get(timeout=6)
    elapsed = time.monotonic() - t0
    assert m.payload == b"session-ended"
    assert 0.8 <= elapsed <= 3.0, "session ended after %.2fs, expected ~1s" % elapsed
    again = make_raw(broker, 5, client_id="s-" + uid, clean=False, props={"SessionExpiryInterval": 1})
    assert again.connack.session_present is False


def test_v5_session_with_expiry_is_resumed_within_interval(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="s-" + uid, clean=False, props={"SessionExpiryInterval": 5})
    c.subscribe("resume/" + uid, qos=1)
    c.close()
    c2 = make_raw(broker, 5, client_id="s-" + uid, clean=False, props={"SessionExpiryInterval": 5})
    assert c2.connack.session_present is True


def test_v5_disconnect_can_shorten_session_expiry(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="s-" + uid, clean=False, props={"SessionExpiryInterval": 300})
    c.subscribe("shorten/" + uid, qos=1)
    c.disconnect(0, props={"SessionExpiryInterval": 0})
    c2 = make_raw(broker, 5, client_id="s-" + uid, clean=False, props={"SessionExpiryInterval": 300})
    assert c2.connack.session_present is False


def test_v5_disconnect_cannot_set_expiry_when_connect_had_zero(broker, make_raw, make_client, uid):
    """MQTT-3.14.2-2: non-zero Session Expiry in DISCONNECT after 0 in CONNECT is a
    protocol error: not a valid DISCONNECT (so the will is published), 0x82."""
    watcher = make_client(broker, "w-" + uid, version=5)
    watcher.subscribe("bad-disc/" + uid, qos=1)
    c = make_raw(broker, 5, client_id="s-" + uid, clean=True,
                 will={"topic": "bad-disc/" + uid, "payload": b"will", "qos": 1})
    c.send(mqttraw.disconnect_packet(0, {"SessionExpiryInterval": 60}))
    expect_refused(c, disconnect_rcs=(0x82,))
    assert watcher.messages.get().payload == b"will"


@pytest.mark.tidemq_only(reason="mqtt.session_expiry_max has no mosquitto equivalent in seconds")
def test_v5_session_expiry_is_capped_by_session_expiry_max(broker_factory, make_client, make_raw, uid):
    b = broker_factory(session_expiry_max=1)
    watcher = make_client(b, "w-" + uid, version=5)
    watcher.subscribe("cap/will/" + uid, qos=1)
    c = make_raw(b, 5, client_id="s-" + uid, clean=False,
                 props={"SessionExpiryInterval": 3600},
                 will={"topic": "cap/will/" + uid, "payload": b"gone", "props": {"WillDelayInterval": 60}})
    assert c.connack.props.get("SessionExpiryInterval") == 1, \
        "server uses a different expiry than requested, so CONNACK must carry it: %r" % c.connack
    t0 = time.monotonic()
    c.close()
    assert watcher.messages.get(timeout=6).payload == b"gone"
    assert time.monotonic() - t0 <= 3.0


@pytest.mark.tidemq_only(reason="mqtt.session_expiry_max applies to 3.1.1 persistent sessions; no mosquitto equivalent in seconds")
def test_v311_persistent_session_expires_after_session_expiry_max(broker_factory, make_raw, uid):
    b = broker_factory(session_expiry_max=1)
    c = make_raw(b, 4, client_id="s-" + uid, clean=False)
    c.subscribe("v3exp/" + uid, qos=1)
    c.disconnect()
    # the session must survive a quick reconnect ...
    c2 = make_raw(b, 4, client_id="s-" + uid, clean=False)
    assert c2.connack.session_present is True
    c2.disconnect()
    # ... but not 1.5 s of absence with session_expiry_max = 1
    time.sleep(1.5)
    c3 = make_raw(b, 4, client_id="s-" + uid, clean=False)
    assert c3.connack.session_present is False


# --- redelivery -------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_unacked_qos1_is_redelivered_with_dup(broker, make_raw, make_client, uid, version):
    topic = "dup1/" + uid
    kw = persistent(version)
    sub = make_raw(broker, version, client_id="s-" + uid, **kw)
    sub.subscribe(topic, qos=1)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"unacked", qos=1)
    first = sub.expect(PUBLISH)
    assert first.dup is False and first.qos == 1
    sub.close()  # no PUBACK
    sub2 = make_raw(broker, version, client_id="s-" + uid, **kw)
    assert sub2.connack.session_present
    again = sub2.expect(PUBLISH)
    assert again.payload == b"unacked"
    assert again.dup is True, "redelivered PUBLISH must have DUP=1: %r" % again
    assert again.pid == first.pid, "redelivery must reuse the packet id"
    sub2.puback(again.pid)
    # make sure the broker has processed the PUBACK (packets on a connection are
    # handled in order) before this connection goes away
    sub2.ping()
    sub2.expect(PINGRESP)
    # acknowledged now: a third connection gets nothing
    sub2.close()
    sub3 = make_raw(broker, version, client_id="s-" + uid, **kw)
    assert [p for p in sub3.recv_all(0.5) if p.type == PUBLISH] == []


@pytest.mark.parametrize("version", [4, 5])
def test_unacked_qos2_publish_is_redelivered_with_dup(broker, make_raw, make_client, uid, version):
    topic = "dup2/" + uid
    kw = persistent(version)
    sub = make_raw(broker, version, client_id="s-" + uid, **kw)
    sub.subscribe(topic, qos=2)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"q2", qos=2)
    first = sub.expect(PUBLISH)
    sub.close()  # no PUBREC
    sub2 = make_raw(broker, version, client_id="s-" + uid, **kw)
    again = sub2.expect(PUBLISH)
    assert again.dup is True and again.pid == first.pid and again.qos == 2
    sub2.pubrec(again.pid)
    rel = sub2.expect(PUBREL)
    assert rel.pid == again.pid
    sub2.pubcomp(rel.pid)


@pytest.mark.parametrize("version", [4, 5])
def test_pubrel_is_resent_after_reconnect(broker, make_raw, make_client, uid, version):
    topic = "rel/" + uid
    kw = persistent(version)
    sub = make_raw(broker, version, client_id="s-" + uid, **kw)
    sub.subscribe(topic, qos=2)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"q2", qos=2)
    p = sub.expect(PUBLISH)
    sub.pubrec(p.pid)
    sub.expect(PUBREL)
    sub.close()  # no PUBCOMP
    sub2 = make_raw(broker, version, client_id="s-" + uid, **kw)
    rel = sub2.expect(PUBREL)
    assert rel.pid == p.pid, "after PUBREC the broker must resend PUBREL, not the PUBLISH"
    sub2.pubcomp(rel.pid)
    assert [x for x in sub2.recv_all(0.5) if x.type == PUBLISH] == []


@pytest.mark.parametrize("version", [4, 5])
def test_inbound_qos2_state_survives_reconnect(broker, make_raw, make_client, uid, version):
    topic = "in2r/" + uid
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe(topic, qos=2)
    kw = persistent(version)
    c = make_raw(broker, version, client_id="c-" + uid, **kw)
    c.publish(topic, b"once", qos=2, pid=9)
    assert c.expect(PUBREC).pid == 9
    c.close()  # PUBREL not sent yet
    c2 = make_raw(broker, version, client_id="c-" + uid, **kw)
    assert c2.connack.session_present
    c2.pubrel(9)
    comp = c2.expect(PUBCOMP)
    assert comp.pid == 9 and (comp.rc or 0) == 0, comp
    assert sub.messages.get().payload == b"once"
    sub.subscribe("in2r-b/" + uid, qos=1)
    assert barrier(sub, sub, "in2r-b/" + uid) == [], "QoS 2 message delivered twice"


# --- offline queue limit --------------------------------------------------------------

def overflow_offline_queue(broker_factory, make_client, uid, version, prefix):
    """The scenario both offline-queue tests check: 10 QoS 1 messages for a disconnected
    persistent subscriber with max_mqueue_len=5; returns what it gets when it comes back."""
    b = broker_factory(max_mqueue_len=5)
    topic = "%s/%s" % (prefix, uid)
    sub = make_client(b, "s-" + uid, version=version, **persistent(version))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = make_client(b, "p-" + uid, version=version)
    for i in range(10):
        pub.publish(topic, b"%d" % i, qos=1)
    sub2 = make_client(b, "s-" + uid, version=version, **persistent(version))
    sub2.subscribe("%s-end/%s" % (prefix, uid), qos=1)
    return barrier(pub, sub2, "%s-end/%s" % (prefix, uid))


@pytest.mark.parametrize("version", [4, 5])
def test_offline_queue_is_bounded(broker_factory, make_client, uid, version):
    got = overflow_offline_queue(broker_factory, make_client, uid, version, "mq")
    assert len(got) == 5, "max_mqueue_len=5 but %d queued messages delivered: %r" % (len(got), got)


@pytest.mark.tidemq_only(reason="tidemq drops the OLDEST message when the queue is full; mosquitto drops the newest")
@pytest.mark.parametrize("version", [4, 5])
def test_offline_queue_full_drops_oldest(broker_factory, make_client, uid, version):
    got = overflow_offline_queue(broker_factory, make_client, uid, version, "mqo")
    assert [int(m.payload) for m in got] == [5, 6, 7, 8, 9]
