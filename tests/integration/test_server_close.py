"""A server-side close keeps its reason code.

When the broker ends a connection with a DISCONNECT (or a refusing CONNACK) while
the client is still writing, closing the socket at once makes the broker's kernel
answer the client's next bytes with an RST: the client then gets a broken pipe or
a reset instead of the reason code. The broker sends FIN after its last packet and
reads and discards what still comes, for a bounded time and amount, before it
closes.

Each test writes a burst of small packets after the broker has decided to close
(more than the broker reads in one go, well under what it discards), one send()
per packet, then reads: every send must succeed, the broker's last packet must
arrive, and the connection must end with a clean EOF, not a reset. Then, like a
client whose writer has not noticed the close yet, it writes some more: with a
socket closed at once this is what reliably meets the RST (a broken pipe).
"""

import select
import socket

import pytest

import mqttraw
from certs import client_tls_context
from mqttraw import CONNACK, DISCONNECT, PUBREC, publish_of_size
from test_tls import TlsRaw, start_tls
from test_ws import WsRaw, start_ws

# the fixture tls_certs
pytest_plugins = ["certs.fixtures"]

pytestmark = pytest.mark.tidemq_only(
    reason="mosquitto 2.0.11 closes at once: a client still writing gets a reset after (or instead of) the reason code")

BURST_BYTES = 96 * 1024  # above the broker's 64 KiB read; with LATE_WRITES well below its discard bound
CHUNK = 1024
LATE_WRITES = 32


def write_burst(c, topic):
    """QoS 0 PUBLISHes of CHUNK bytes, one send() each; a reset fails the test."""
    packet = publish_of_size(CHUNK, topic)
    for i in range(BURST_BYTES // CHUNK):
        try:
            c.sock.sendall(packet)
        except OSError as e:
            pytest.fail("send %d of the burst failed: %r (the broker reset the connection)" % (i, e))


def write_after_eof(c, topic):
    """More PUBLISHes after the broker's EOF: they must not meet a reset."""
    packet = publish_of_size(CHUNK, topic)
    for i in range(LATE_WRITES):
        try:
            c.sock.sendall(packet)
        except OSError as e:
            pytest.fail("write %d after the broker's EOF failed: %r (the broker reset the connection)" % (i, e))


def read_to_eof(c, timeout=10.0):
    """Every packet until the broker's EOF; a reset fails the test."""
    packets = []
    c.sock.settimeout(timeout)
    while True:
        while True:
            p = c._try_parse()
            if p is None:
                break
            packets.append(p)
        try:
            data = c.sock.recv(65536)
        except socket.timeout:
            pytest.fail("no EOF within %.0fs; got %r" % (timeout, packets))
        except OSError as e:
            pytest.fail("connection reset instead of a clean close: %r; got %r" % (e, packets))
        if not data:
            assert not c.buf, "partial packet before EOF: %r" % bytes(c.buf)
            return packets
        c.buf += data


def wait_readable(c, timeout=10.0):
    r, _, _ = select.select([c.sock], [], [], timeout)
    assert r, "nothing from the broker within %.0fs" % timeout


def test_receive_maximum_exceeded_0x93_reaches_a_client_still_writing(broker_factory, make_raw, uid):
    b = broker_factory(max_inflight=5)
    c = make_raw(b, 5, client_id="c-" + uid)
    for _ in range(6):
        c.publish("rm/" + uid, b"x", qos=2)  # no PUBREL: the sixth exceeds Receive Maximum 5
    write_burst(c, "rm/" + uid)
    packets = read_to_eof(c)
    assert [p.type for p in packets if p.type != PUBREC] == [DISCONNECT], packets
    assert packets[-1].rc == 0x93, packets
    write_after_eof(c, "rm/" + uid)


def test_takeover_0x8e_reaches_a_client_still_writing(broker, make_raw, uid):
    old = make_raw(broker, 5, client_id="t-" + uid)
    make_raw(broker, 5, client_id="t-" + uid)  # takes the session over
    wait_readable(old)  # the broker has sent its DISCONNECT: write on regardless
    write_burst(old, "to/" + uid)
    packets = read_to_eof(old)
    assert [(p.type, p.rc) for p in packets] == [(DISCONNECT, 0x8E)], packets
    write_after_eof(old, "to/" + uid)


def test_takeover_0x8e_reaches_a_tls_client_still_writing(broker_factory, tls_certs, uid):
    """The same over TLS: FIN under the TLS layer after the DISCONNECT record, then the
    broker reads (and decrypts and drops) what still comes."""
    b, port = start_tls(broker_factory, tls_certs)
    old = TlsRaw(port, client_tls_context(tls_certs))
    new = TlsRaw(port, client_tls_context(tls_certs))
    try:
        assert old.connect("t-" + uid).rc == 0
        assert new.connect("t-" + uid).rc == 0
        wait_readable(old)
        write_burst(old, "to/" + uid)
        packets = read_to_eof(old)
        assert [(p.type, p.rc) for p in packets] == [(DISCONNECT, 0x8E)], packets
        write_after_eof(old, "to/" + uid)
    finally:
        old.close()
        new.close()


def test_takeover_0x8e_reaches_a_websocket_client_still_writing(broker_factory, uid):
    """The same over WebSocket: FIN after the binary message with the DISCONNECT (no
    close frame), then the broker reads and drops what still comes."""
    b, port, _ = start_ws(broker_factory)
    old, new = WsRaw(port), WsRaw(port)
    packet = publish_of_size(CHUNK, "to/" + uid)

    def write(n, when):
        for i in range(n):
            try:
                old.send_message(packet)
            except mqttraw.Closed as e:
                pytest.fail("write %d %s failed: %s (the broker reset the connection)" % (i, when, e))

    try:
        assert old.connect("t-" + uid).rc == 0
        assert new.connect("t-" + uid).rc == 0
        wait_readable(old)
        write(BURST_BYTES // CHUNK, "of the burst")
        packets = []
        while True:
            try:
                packets.append(old.recv(10.0))
            except mqttraw.Closed as e:
                assert "closed by peer" in str(e), "%s instead of a clean close; got %r" % (e, packets)
                break
        assert [(p.type, p.rc) for p in packets] == [(DISCONNECT, 0x8E)], packets
        write(LATE_WRITES, "after the broker's EOF")
    finally:
        old.close()
        new.close()


def test_packet_too_large_0x95_reaches_a_client_still_sending_it(broker_factory, make_raw, uid):
    b = broker_factory(max_packet_size=1024)
    c = make_raw(b, 5, client_id="c-" + uid)
    big = publish_of_size(BURST_BYTES, "big/" + uid)
    for i in range(0, len(big), CHUNK):  # the broker refuses it from its header on
        try:
            c.sock.sendall(big[i:i + CHUNK])
        except OSError as e:
            pytest.fail("send at offset %d failed: %r (the broker reset the connection)" % (i, e))
    packets = read_to_eof(c)
    assert [(p.type, p.rc) for p in packets] == [(DISCONNECT, 0x95)], packets
    write_after_eof(c, "big/" + uid)


def test_refusing_connack_reaches_a_client_that_pipelined(broker, uid):
    c = mqttraw.RawClient(broker.host, broker.port, version=5)
    try:
        c.send(mqttraw.connect_packet("c-" + uid, props={"AuthenticationMethod": "SCRAM-SHA-1"}))
        write_burst(c, "pl/" + uid)  # publishes sent ahead of the CONNACK
        packets = read_to_eof(c)
        assert [(p.type, p.rc) for p in packets] == [(CONNACK, 0x8C)], packets
        write_after_eof(c, "pl/" + uid)
    finally:
        c.close()
