"""CONNECT validation, CONNACK reason codes and properties, keep-alive."""

import time

import pytest

import mqttraw
from mqttraw import CONNACK, PINGRESP, connect_packet, packet
from mqtthelpers import assert_serving, expect_refused, wait_for


# --- protocol name / level ----------------------------------------------------

@pytest.mark.parametrize("level", [2, 7])
def test_v311_unsupported_protocol_level_gets_rc1(broker, make_raw, level):
    c = make_raw(broker, 4)
    c.send(connect_packet("badlevel", version=4, proto_level=level))
    pkts = expect_refused(c, connack_rcs=(0x01, 0x84))
    assert [p.type for p in pkts] == [CONNACK], "MQTT-3.1.2-2: CONNACK then close, got %r" % pkts
    assert_serving(broker)


def test_v5_unsupported_protocol_level_gets_0x84(broker, make_raw):
    c = make_raw(broker, 5)
    c.send(connect_packet("badlevel5", version=5, proto_level=6))
    pkts = expect_refused(c, connack_rcs=(0x84, 0x01))
    assert [p.type for p in pkts] == [CONNACK], pkts
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_wrong_protocol_name_is_not_accepted(broker, make_raw, version):
    c = make_raw(broker, version)
    c.send(connect_packet("badname", version=version, proto_name=b"MQTX"))
    expect_refused(c, connack_rcs=(0x01, 0x84, 0x81, 0x82))
    assert_serving(broker)


# --- client identifiers ---------------------------------------------------------

def test_v311_empty_client_id_with_persistent_session_is_rejected(broker, make_raw):
    c = make_raw(broker, 4)
    ack = c.connect("", clean=False)
    assert ack.rc == 0x02, "identifier rejected expected, got %r" % ack
    assert not ack.session_present
    expect_refused(c)


def test_v311_empty_client_id_with_clean_session_is_accepted(broker, make_raw):
    c = make_raw(broker, 4)
    ack = c.connect("", clean=True)
    assert ack.rc == 0 and not ack.session_present
    assert c.subscribe("anon/t", qos=1).rcs == [1]
    c.publish("anon/t", b"x", qos=1)
    got, _ = c.recv_until(lambda p: p.type == mqttraw.PUBLISH)
    assert got.payload == b"x"


def test_v5_empty_client_id_gets_assigned_identifier(broker, make_raw):
    a = make_raw(broker, 5)
    b = make_raw(broker, 5)
    ack_a = a.connect("")
    ack_b = b.connect("")
    assert ack_a.rc == 0 and ack_b.rc == 0
    id_a = ack_a.props.get("AssignedClientIdentifier")
    id_b = ack_b.props.get("AssignedClientIdentifier")
    assert id_a and id_b, (ack_a, ack_b)
    assert id_a != id_b
    # both connections are live at the same time (no takeover between them)
    assert a.is_open(0.2) and b.is_open(0.0)


def test_v5_assigned_identifier_is_a_usable_session(broker, make_raw):
    a = make_raw(broker, 5)
    ack = a.connect("", clean=True, props={"SessionExpiryInterval": 60})
    cid = ack.props["AssignedClientIdentifier"]
    a.subscribe("assigned/t", qos=1)
    a.disconnect()
    b = make_raw(broker, 5)
    ack2 = b.connect(cid, clean=False, props={"SessionExpiryInterval": 60})
    assert ack2.rc == 0 and ack2.session_present, ack2


# --- keep alive -------------------------------------------------------------------

def test_v5_keepalive_above_max_gets_server_keepalive(broker_factory, make_raw):
    b = broker_factory(max_keepalive=60)
    c = make_raw(b, 5)
    ack = c.connect("ka-high", keepalive=120)
    assert ack.rc == 0
    assert ack.props.get("ServerKeepAlive") == 60, ack


def test_v5_keepalive_below_max_is_kept(broker_factory, make_raw):
    b = broker_factory(max_keepalive=60)
    c = make_raw(b, 5)
    ack = c.connect("ka-low", keepalive=30)
    assert ack.rc == 0
    assert ack.props.get("ServerKeepAlive", 30) == 30, ack


def _keepalive_close_time(broker, make_raw, version, timeout):
    c = make_raw(broker, version)
    t0 = time.monotonic()
    assert c.connect("ka-timeout-%d" % version, keepalive=1).rc == 0
    pkts = expect_refused(c, disconnect_rcs=(0x8D,), timeout=timeout)
    assert all(p.type == mqttraw.DISCONNECT for p in pkts)
    return time.monotonic() - t0


@pytest.mark.parametrize("version", [4, 5])
def test_keepalive_timeout_closes_idle_connection(broker, make_raw, version):
    elapsed = _keepalive_close_time(broker, make_raw, version, timeout=8)
    assert elapsed >= 1.4, "closed after %.2fs, before 1.5 x keep alive" % elapsed


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 checks keep alive only every few seconds (closes after ~5s)")
@pytest.mark.parametrize("version", [4, 5])
def test_keepalive_timeout_is_one_and_a_half_times(broker, make_raw, version):
    elapsed = _keepalive_close_time(broker, make_raw, version, timeout=6)
    assert 1.4 <= elapsed <= 2.6, "closed after %.2fs, expected ~1.5s (1.5 x keep alive 1s)" % elapsed


@pytest.mark.tidemq_only(reason="the DISCONNECT 0x8D before the close is optional; mosquitto 2.0.11 just closes")
def test_v5_keepalive_timeout_sends_0x8d(broker, make_raw):
    c = make_raw(broker, 5, client_id="ka-8d", keepalive=1)
    pkts = c.wait_closed(timeout=6)
    assert [(p.type, p.rc) for p in pkts] == [(mqttraw.DISCONNECT, 0x8D)], pkts


@pytest.mark.parametrize("version", [4, 5])
def test_pingreq_keeps_connection_alive(broker, make_raw, version):
    c = make_raw(broker, version)
    assert c.connect("ka-ping-%d" % version, keepalive=1).rc == 0
    t_end = time.monotonic() + 2.6
    while time.monotonic() < t_end:
        c.ping()
        c.expect(PINGRESP, timeout=2)
        time.sleep(0.4)  # pacing the client's own pings, well inside the keep alive
    assert c.is_open(0.1)


# --- authentication -----------------------------------------------------------------

def test_v5_unsupported_authentication_method_gets_0x8c(broker, make_raw):
    c = make_raw(broker, 5)
    ack = c.connect("auth-m", props={"AuthenticationMethod": "NOT-A-REAL-METHOD"})
    assert ack.rc == 0x8C, ack
    expect_refused(c)


def test_v311_password_without_username_is_malformed(broker, make_raw):
    c = make_raw(broker, 4)
    c.send(connect_packet("pw-only", version=4, password=b"secret"))
    expect_refused(c)
    assert_serving(broker)


def test_v5_password_without_username_is_allowed(broker, make_raw):
    c = make_raw(broker, 5)
    ack = c.connect("pw-only5", password=b"secret")
    assert ack.rc == 0, ack


# --- malformed CONNECT flags -------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_will_qos_3_is_refused(broker, make_raw, version):
    c = make_raw(broker, version)
    flags = 0x02 | 0x04 | (3 << 3)
    c.send(connect_packet("wq3", version=version, will={"topic": "w", "payload": b"x"}, flags=flags))
    expect_refused(c, connack_rcs=(0x81, 0x82, 0x9B) if version == 5 else ())
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("flags", [0x02 | 0x08, 0x02 | 0x20], ids=["willqos-no-will", "willretain-no-will"])
def test_will_bits_without_will_flag_are_refused(broker, make_raw, version, flags):
    c = make_raw(broker, version)
    c.send(connect_packet("wbits", version=version, flags=flags))
    expect_refused(c, connack_rcs=(0x81, 0x82) if version == 5 else ())
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_reserved_connect_flag_is_refused(broker, make_raw, version):
    c = make_raw(broker, version)
    c.send(connect_packet("rsv", version=version, flags=0x03))
    expect_refused(c, connack_rcs=(0x81, 0x82) if version == 5 else ())
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_second_connect_is_a_protocol_error(broker, make_raw, version):
    c = make_raw(broker, version, client_id="twice-%d" % version)
    c.send(connect_packet("twice-%d" % version, version=version))
    expect_refused(c, disconnect_rcs=(0x82, 0x81))
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_first_packet_must_be_connect(broker, make_raw, version):
    c = make_raw(broker, version)
    c.send(mqttraw.subscribe_packet(1, [("a", 0)], version=version))
    expect_refused(c)
    assert_serving(broker)


# --- CONNACK properties ---------------------------------------------------------------

def test_v5_connack_advertises_capabilities(broker, make_raw):
    c = make_raw(broker, 5)
    ack = c.connect("caps")
    assert ack.rc == 0
    p = ack.props
    assert p.get("MaximumQoS", 2) == 2
    assert p.get("RetainAvailable", 1) == 1
    assert p.get("WildcardSubscriptionAvailable", 1) == 1
    assert p.get("SubscriptionIdentifierAvailable", 1) == 1
    assert p.get("SharedSubscriptionAvailable", 1) == 1
    assert p.get("TopicAliasMaximum", 0) > 0, "broker should accept topic aliases: %r" % ack


@pytest.mark.tidemq_only(reason="tidemq defaults: Receive Maximum 32, Topic Alias Maximum 65535")
def test_v5_connack_defaults(broker, make_raw):
    c = make_raw(broker, 5)
    ack = c.connect("defaults")
    assert ack.props.get("ReceiveMaximum", 65535) == 32, ack
    assert ack.props.get("TopicAliasMaximum") == 65535, ack
    assert ack.props.get("MaximumPacketSize") in (None, 1048576), ack


def test_v5_connack_receive_maximum_is_configurable(broker_factory, make_raw):
    b = broker_factory(max_inflight=7)
    c = make_raw(b, 5)
    ack = c.connect("rm7")
    assert ack.props.get("ReceiveMaximum") == 7, ack


def test_v311_connack_is_two_bytes(broker, make_raw):
    c = make_raw(broker, 4)
    c.send(connect_packet("v3ack", version=4))
    p = c.expect(CONNACK)
    assert p.raw == b"\x00\x00", p.raw


# --- connection limit ------------------------------------------------------------------

def _try_connect(b, make_raw, version, cid):
    """Returns the connected client, or None if the broker refused/closed it."""
    c = make_raw(b, version)
    try:
        c.send(connect_packet(cid, version=version))
        p = c.recv(5)
    except (mqttraw.Closed, OSError):
        return None
    if p.type == CONNACK and p.rc == 0:
        return c
    assert p.type == CONNACK and p.rc in ((0x97, 0x89, 0x9F) if version == 5 else (0x03,)), p
    expect_refused(c)
    return None


@pytest.mark.parametrize("version", [4, 5])
def test_max_connections_limits_connections(broker_factory, make_raw, version):
    b = broker_factory(max_connections=2)
    # the startup probe connection may still be counted for a moment
    first = wait_for(lambda: _try_connect(b, make_raw, version, "mc-0"), timeout=5, interval=0.1)
    results = [first] + [_try_connect(b, make_raw, version, "mc-%d" % i) for i in range(1, 5)]
    accepted = [c for c in results if c is not None]
    assert 2 <= len(accepted) < 5, "with max_connections=2, %d of 5 connections were accepted" % len(accepted)


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 accepts max_connections + 1 clients")
@pytest.mark.parametrize("version", [4, 5])
def test_max_connections_exact(broker_factory, make_raw, version):
    b = broker_factory(max_connections=2)
    held = [wait_for(lambda: _try_connect(b, make_raw, version, "mc-0"), timeout=5, interval=0.1)]
    # the second may also race with the probe connection being cleaned up
    held.append(wait_for(lambda: _try_connect(b, make_raw, version, "mc-1"), timeout=5, interval=0.1))
    assert _try_connect(b, make_raw, version, "mc-third") is None, "third connection accepted"
    assert held[0].is_open(0.1) and held[1].is_open(0.0)
    # after one leaves, a new one is accepted again
    held[0].disconnect()
    wait_for(lambda: _try_connect(b, make_raw, version, "mc-again"), timeout=5, interval=0.1)


# --- more CONNACK reason codes from configuration -------------------------------------

@pytest.mark.tidemq_only(reason="mqtt.max_clientid_len is a tidemq setting")
@pytest.mark.parametrize("version", [4, 5])
def test_client_id_too_long(broker_factory, make_raw, version):
    b = broker_factory(max_clientid_len=23)  # 23 is the spec's minimum
    ok = make_raw(b, version)
    assert ok.connect("a" * 23).rc == 0
    c = make_raw(b, version)
    ack = c.connect("b" * 24)
    assert ack.rc == (0x85 if version == 5 else 0x02), ack
    expect_refused(c)


def test_v5_maximum_qos(broker_factory, make_raw):
    b = broker_factory(max_qos_allowed=1)
    c = make_raw(b, 5, client_id="mq")
    assert c.connack.props.get("MaximumQoS") == 1, c.connack
    # subscriptions are granted at most QoS 1
    assert c.subscribe("mq/t", qos=2).rcs in ([1], [0x9B]), "SUBACK above Maximum QoS"
    c.publish("mq/t", b"x", qos=2)
    pkts = expect_refused(c, disconnect_rcs=(0x9B,), allow=(mqttraw.PUBLISH,))
    assert pkts and pkts[-1].rc == 0x9B, pkts


def test_v5_will_qos_above_maximum_qos_is_refused(broker_factory, make_raw):
    b = broker_factory(max_qos_allowed=1)
    c = make_raw(b, 5)
    c.send(connect_packet("wq2", will={"topic": "w", "payload": b"x", "qos": 2}))
    pkts = expect_refused(c, connack_rcs=(0x9B,))
    assert [p.rc for p in pkts] == [0x9B], pkts


@pytest.mark.tidemq_only(reason="mqtt.idle_timeout is a tidemq setting")
def test_connection_without_connect_is_closed_after_idle_timeout(broker_factory, make_raw):
    b = broker_factory(idle_timeout=1)
    c = make_raw(b, 5)
    t0 = time.monotonic()
    assert c.wait_closed(timeout=6) == []
    assert 0.9 <= time.monotonic() - t0 <= 3.0


def test_v5_keepalive_zero_gets_server_keepalive(broker_factory, make_raw):
    b = broker_factory(max_keepalive=60)
    c = make_raw(b, 5)
    ack = c.connect("ka-zero", keepalive=0)
    assert ack.props.get("ServerKeepAlive") == 60, ack
