"""Malformed input: the broker answers (MQTT 5: DISCONNECT 0x81/0x82) and
closes the connection, and keeps serving everybody else. Never a crash."""

import random
import socket
import threading

import pytest

from mqttraw import (CONNECT, bstr, connect_packet, encode_props, packet,
                     publish_packet, u16, varint)
from mqtthelpers import assert_serving, expect_refused

MALFORMED = (0x81, 0x82)

# --- before / instead of CONNECT ------------------------------------------------------

_rng = random.Random(1234)

PRE_CONNECT = {
    "zeros": b"\x00" * 16,
    "http-request": b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + bytes(32),
    "random-bytes": bytes(_rng.randrange(256) for _ in range(512)),
    "remaining-length-5-bytes": b"\x10\xff\xff\xff\xff\x01",
    "connect-reserved-flags": bytes([0x11]) + connect_packet("x", version=4)[1:],
    "connect-string-overrun": packet(CONNECT, 0, bstr(b"MQTT") + bytes([4, 2]) + u16(60) + u16(50) + b"abc"),
    "connect-invalid-utf8-client-id": packet(CONNECT, 0, bstr(b"MQTT") + bytes([4, 2]) + u16(60) + bstr(b"\xc3\x28")),
    "connect-nul-in-client-id": packet(CONNECT, 0, bstr(b"MQTT") + bytes([4, 2]) + u16(60) + bstr(b"a\x00b")),
    "connect-trailing-garbage": packet(CONNECT, 0, connect_packet("x", version=4)[2:] + b"\x01\x02\x03"),
    "v5-connect-bad-property": packet(CONNECT, 0, bstr(b"MQTT") + bytes([5, 2]) + u16(60) + b"\x02\x7f\x00" + bstr(b"x")),
    "v5-connect-property-overrun": packet(CONNECT, 0, bstr(b"MQTT") + bytes([5, 2]) + u16(60) + b"\x20\x11\x00" + bstr(b"x")),
}


@pytest.mark.parametrize("name", sorted(PRE_CONNECT))
def test_malformed_before_connect(broker, make_raw, name):
    c = make_raw(broker, 5)
    try:
        c.send(PRE_CONNECT[name])
    except OSError:
        pass
    # a CONNACK with an error code (or nothing at all) is acceptable; success is not
    expect_refused(c, connack_rcs=(0x01, 0x02, 0x80, 0x81, 0x82, 0x84, 0x85), timeout=5)
    assert_serving(broker)


# --- after a successful CONNECT -------------------------------------------------------

def v5publish_with_props(raw_props):
    return packet(3, 0x02, bstr("t") + u16(1) + varint(len(raw_props)) + raw_props + b"payload")


POST_CONNECT = {
    # name: (bytes for v3.1.1, bytes for v5) - None where not applicable
    "subscribe-flags-0": (
        bytes([0x80]) + varint(6) + u16(1) + bstr("a") + b"\x00",
        bytes([0x80]) + varint(7) + u16(1) + b"\x00" + bstr("a") + b"\x00"),
    "unsubscribe-flags-0": (
        bytes([0xA0]) + varint(5) + u16(1) + bstr("a"),
        bytes([0xA0]) + varint(6) + u16(1) + b"\x00" + bstr("a")),
    "pubrel-flags-0": (b"\x60\x02\x00\x01", b"\x60\x02\x00\x01"),
    "publish-qos-3": (b"\x36\x05\x00\x01a\x00\x01", b"\x36\x06\x00\x01a\x00\x01\x00"),
    "publish-qos1-packet-id-0": (
        publish_packet("a", b"x", qos=1, pid=0, version=4),
        publish_packet("a", b"x", qos=1, pid=0, version=5)),
    "publish-invalid-utf8-topic": (
        packet(3, 0, bstr(b"a/\xff\xfe") + b"x"),
        packet(3, 0, bstr(b"a/\xff\xfe") + b"\x00x")),
    "publish-nul-in-topic": (
        packet(3, 0, bstr(b"a\x00b") + b"x"),
        packet(3, 0, bstr(b"a\x00b") + b"\x00x")),
    "publish-surrogate-in-topic": (
        packet(3, 0, bstr(b"a/\xed\xa0\x80") + b"x"),
        packet(3, 0, bstr(b"a/\xed\xa0\x80") + b"\x00x")),
    "publish-topic-overrun": (
        packet(3, 0, u16(200) + b"abc"),
        packet(3, 0, u16(200) + b"abc")),
    "subscribe-no-filters": (
        packet(8, 2, u16(1)),
        packet(8, 2, u16(1) + b"\x00")),
    "subscribe-qos-3": (
        packet(8, 2, u16(1) + bstr("a") + b"\x03"),
        packet(8, 2, u16(1) + b"\x00" + bstr("a") + b"\x03")),
    "subscribe-reserved-option-bits": (
        packet(8, 2, u16(1) + bstr("a") + b"\x04"),   # 3.1.1: upper 6 bits reserved
        packet(8, 2, u16(1) + b"\x00" + bstr("a") + b"\xc1")),
    "subscribe-retain-handling-3": (
        None,
        packet(8, 2, u16(1) + b"\x00" + bstr("a") + b"\x31")),
    "unsubscribe-no-filters": (
        packet(10, 2, u16(1)),
        packet(10, 2, u16(1) + b"\x00")),
    "reserved-packet-type-0": (b"\x00\x00", b"\x00\x00"),
    "auth-packet-in-v311": (b"\xf0\x00", None),
    "connack-from-client": (b"\x20\x02\x00\x00", b"\x20\x03\x00\x00\x00"),
    "pingreq-with-body": (b"\xc0\x01\x00", b"\xc0\x01\x00"),
    "remaining-length-5-bytes": (b"\x30\xff\xff\xff\xff\x01", b"\x30\xff\xff\xff\xff\x01"),
    "v5-unknown-property": (None, v5publish_with_props(b"\x7f\x00")),
    "v5-duplicate-property": (None, v5publish_with_props(b"\x01\x00\x01\x01")),
    "v5-property-not-for-publish": (None, v5publish_with_props(b"\x11\x00\x00\x00\x05")),
    "v5-property-length-overrun": (None, packet(3, 0x02, bstr("t") + u16(1) + varint(50) + b"\x01\x00")),
    "v5-subscribe-bad-property": (None, packet(8, 2, u16(1) + encode_props({"ContentType": "x"}) + bstr("a") + b"\x00")),
    "v5-disconnect-bad-reason-length": (None, b"\xe0\x02\x00\x7f"),
}

# cases mosquitto 2.0.11 does not treat as malformed
MOSQUITTO_ACCEPTS = {"pingreq-with-body": "mosquitto 2.0.11 answers a PINGREQ that has a body"}

CASES = [
    pytest.param(name, v, id="%s-v%d" % (name, v),
                 marks=[pytest.mark.tidemq_only(reason=MOSQUITTO_ACCEPTS[name])] if name in MOSQUITTO_ACCEPTS else [])
    for name in sorted(POST_CONNECT) for v in (4, 5)
    if POST_CONNECT[name][0 if v == 4 else 1] is not None
]


@pytest.mark.parametrize("name,version", CASES)
def test_malformed_after_connect(broker, make_raw, name, version):
    data = POST_CONNECT[name][0 if version == 4 else 1]
    c = make_raw(broker, version, client_id="mal-%s-%d" % (name, version))
    c.send(data)
    # 4.13.1: the DISCONNECT before the close is a SHOULD; its reason code, if
    # sent, must say malformed / protocol error (0x90 for the topic cases)
    expect_refused(c, disconnect_rcs=MALFORMED + (0x90,) if version == 5 else ())
    assert_serving(broker)


# the reason code tidemq must give, per 2.2.2.2 / 1.5.4 / 3.x: 0x81 Malformed Packet,
# 0x82 Protocol Error (a tuple where the spec leaves room)
EXPECTED_V5_CODE = {
    "connack-from-client": 0x82,
    "pingreq-with-body": 0x81,
    "publish-invalid-utf8-topic": 0x81,
    "publish-nul-in-topic": 0x81,
    "publish-qos-3": 0x81,
    "publish-qos1-packet-id-0": (0x81, 0x82),
    "publish-surrogate-in-topic": 0x81,
    "publish-topic-overrun": 0x81,
    "pubrel-flags-0": 0x81,
    "remaining-length-5-bytes": 0x81,
    "reserved-packet-type-0": (0x81, 0x82),
    "subscribe-flags-0": 0x81,
    "subscribe-no-filters": 0x82,
    "subscribe-qos-3": 0x82,
    "subscribe-reserved-option-bits": 0x81,
    "subscribe-retain-handling-3": 0x82,
    "unsubscribe-flags-0": 0x81,
    "unsubscribe-no-filters": 0x82,
    "v5-duplicate-property": 0x82,
    "v5-property-length-overrun": 0x81,
    "v5-property-not-for-publish": 0x81,
    "v5-subscribe-bad-property": 0x81,
    "v5-unknown-property": 0x81,
}


@pytest.mark.tidemq_only(reason="tidemq always sends DISCONNECT with the exact reason code; "
                                "mosquitto 2.0.11 often just closes")
@pytest.mark.parametrize("name", sorted(EXPECTED_V5_CODE))
def test_malformed_reason_codes(broker, make_raw, name):
    code = EXPECTED_V5_CODE[name]
    codes = code if isinstance(code, tuple) else (code,)
    c = make_raw(broker, 5, client_id="rc-" + name)
    c.send(POST_CONNECT[name][1])
    pkts = expect_refused(c, disconnect_rcs=codes)
    assert len(pkts) == 1, "expected DISCONNECT %r before the close, got %r" % (codes, pkts)


# --- resource abuse ---------------------------------------------------------------------

def test_huge_remaining_length_then_close(broker, make_raw):
    c = make_raw(broker, 5, client_id="huge")
    c.send(b"\x30\xff\xff\xff\x7f" + b"\x00\x01a")  # claims 256 MiB, sends 3 bytes
    c.close()
    assert_serving(broker)


def test_huge_connect_announced(broker, make_raw):
    c = make_raw(broker, 5)
    c.send(b"\x10\xff\xff\xff\x7f")
    # either refused at once (packet too large) or waiting for bytes that never come
    c.close()
    assert_serving(broker)


def test_half_packet_then_disconnect(broker, make_raw):
    for i in range(20):
        c = make_raw(broker, 5)
        pkt = connect_packet("half-%d" % i)
        c.send(pkt[: len(pkt) // 2])
        c.close()
    assert_serving(broker)


def test_many_garbage_connections_in_parallel(broker):
    """40 connections at once, each sending one complete non-CONNECT "packet" of
    random bytes: every one must be closed by the broker, which keeps serving."""
    rng = random.Random(99)
    blobs = []
    for _ in range(40):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        first = rng.choice([b for b in range(256) if b >> 4 != CONNECT])
        blobs.append(bytes([first, len(body)]) + body + bytes(rng.randrange(256) for _ in range(8)))
    errors = []

    def attack(blob):
        try:
            s = socket.create_connection((broker.host, broker.port), timeout=5)
            try:
                s.sendall(blob)
                s.settimeout(5)
                while s.recv(4096):
                    pass
            finally:
                s.close()
        except socket.timeout:
            errors.append("connection left open after garbage %r" % blob[:16])
        except OSError:
            pass

    threads = [threading.Thread(target=attack, args=(b,)) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert_serving(broker)
    assert_serving(broker, version=4)
