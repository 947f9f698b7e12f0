"""Session takeover: a second connection with the same client id."""

import pytest

from mqttraw import DISCONNECT, PUBLISH
from mqtthelpers import barrier, expect_refused

PERSIST5 = {"SessionExpiryInterval": 300}


def kw(version, clean=False):
    if version == 5:
        return {"clean": clean, "props": dict(PERSIST5)}
    return {"clean": clean}


@pytest.mark.parametrize("old_version,new_version", [(4, 4), (5, 5), (4, 5), (5, 4)])
def test_takeover_closes_old_connection(broker, make_raw, uid, old_version, new_version):
    old = make_raw(broker, old_version, client_id="tk-" + uid)
    new = make_raw(broker, new_version, client_id="tk-" + uid)
    assert new.connack.rc == 0
    expect_refused(old, disconnect_rcs=(0x8E,) if old_version == 5 else ())
    # the new connection is fully functional
    assert new.subscribe("tk/" + uid, qos=1).rcs == [1]
    new.publish("tk/" + uid, b"x", qos=1)
    p, _ = new.recv_until(lambda p: p.type == PUBLISH)
    assert p.payload == b"x"


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 closes the old connection without DISCONNECT 0x8E")
def test_v5_takeover_sends_disconnect_0x8e(broker, make_raw, uid):
    old = make_raw(broker, 5, client_id="tk-" + uid)
    make_raw(broker, 5, client_id="tk-" + uid)
    pkts = old.wait_closed()
    assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x8E)], pkts


@pytest.mark.parametrize("version", [4, 5])
def test_takeover_moves_session_with_inflight_and_queued(broker, make_raw, make_client, uid, version):
    topic = "tkq/" + uid
    old = make_raw(broker, version, client_id="tk-" + uid, **kw(version))
    old.subscribe(topic, qos=1)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"inflight", qos=1)
    first = old.expect(PUBLISH)  # deliberately not acknowledged
    new = make_raw(broker, version, client_id="tk-" + uid, **kw(version))
    assert new.connack.session_present is True
    again = new.expect(PUBLISH)
    assert again.payload == b"inflight" and again.dup and again.pid == first.pid
    new.puback(again.pid)
    pub.publish(topic, b"after", qos=1)
    nxt = new.expect(PUBLISH)
    assert nxt.payload == b"after"
    new.puback(nxt.pid)
    assert [p for p in old.wait_closed() if p.type == PUBLISH] == []


@pytest.mark.parametrize("version", [4, 5])
def test_takeover_with_clean_start_drops_session(broker, make_raw, make_client, uid, version):
    topic = "tkc/" + uid
    old = make_raw(broker, version, client_id="tk-" + uid, **kw(version))
    old.subscribe(topic, qos=1)
    new = make_client(broker, "tk-" + uid, version=version, clean=True)
    assert new.session_present is False
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish(topic, b"old-subscription", qos=1)
    new.subscribe("tkc-end/" + uid, qos=1)
    assert barrier(pub, new, "tkc-end/" + uid) == []
    old.wait_closed()


@pytest.mark.parametrize("version", [4, 5])
def test_takeover_with_clean_start_publishes_old_will(broker, make_raw, make_client, uid, version):
    """The old connection is closed by the server and (clean start) its session
    ends: its will is due."""
    watcher = make_client(broker, "w-" + uid, version=5)
    watcher.subscribe("tkw/" + uid, qos=1)
    make_raw(broker, version, client_id="tk-" + uid, **kw(version),
             will={"topic": "tkw/" + uid, "payload": b"old-will", "qos": 1})
    make_raw(broker, version, client_id="tk-" + uid, clean=True)
    assert watcher.messages.get().payload == b"old-will"


def test_v5_takeover_before_will_delay_suppresses_will(broker, make_raw, make_client, uid):
    watcher = make_client(broker, "w-" + uid, version=5)
    watcher.subscribe("tkd/#", qos=1)
    make_raw(broker, 5, client_id="tk-" + uid, clean=False, props=dict(PERSIST5),
             will={"topic": "tkd/" + uid, "payload": b"must-not", "qos": 1,
                   "props": {"WillDelayInterval": 1}})
    # control: same will delay, its connection simply dropped; its will proves time passed
    control = make_raw(broker, 5, client_id="ctl-" + uid, clean=False, props=dict(PERSIST5),
                       will={"topic": "tkd/control", "payload": b"control", "qos": 1,
                             "props": {"WillDelayInterval": 1}})
    make_raw(broker, 5, client_id="tk-" + uid, clean=False, props=dict(PERSIST5))
    control.close()
    m, before = watcher.messages.get_until(lambda m: m.payload == b"control", timeout=6)
    assert before == [], "will published although the session was taken over within the delay"
    assert watcher.messages.none_within(0.5) == []


def test_v5_takeover_moves_queued_messages(broker, make_raw, make_client, uid):
    """The old connection allows one message in flight (Receive Maximum 1) and
    acknowledges nothing: one message is in flight, the rest queued.  All of
    them move to the new connection, in order."""
    topic = "tkm/" + uid
    old = make_raw(broker, 5, client_id="tk-" + uid, clean=False,
                   props={"SessionExpiryInterval": 300, "ReceiveMaximum": 1})
    old.subscribe(topic, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    for i in range(4):
        pub.publish(topic, b"%d" % i, qos=1)
    first = old.expect(PUBLISH)
    assert first.payload == b"0"
    new = make_raw(broker, 5, client_id="tk-" + uid, clean=False, props=dict(PERSIST5))
    assert new.connack.session_present
    got = []
    for _ in range(4):
        p = new.expect(PUBLISH)
        new.puback(p.pid)
        got.append(p)
    assert [p.payload for p in got] == [b"0", b"1", b"2", b"3"]
    assert got[0].dup and got[0].pid == first.pid
    old.wait_closed()
