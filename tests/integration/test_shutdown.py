"""SIGTERM / SIGINT: clean shutdown, MQTT 5 DISCONNECT 0x8B, exit code 0."""

import signal
import socket
import time

import pytest

from mqttraw import DISCONNECT, PUBLISH

EXIT_DEADLINE = 5.0


def test_sigterm_exits_zero_with_clients_connected(broker, make_raw, make_client):
    make_raw(broker, 4, client_id="v3")
    make_raw(broker, 5, client_id="v5")
    make_client(broker, "paho5", version=5).subscribe("x/#", qos=1)
    make_client(broker, "paho3", version=4).subscribe("x/#", qos=1)
    t0 = time.monotonic()
    assert broker.stop(timeout=EXIT_DEADLINE) == 0
    assert time.monotonic() - t0 <= EXIT_DEADLINE


def test_sigint_exits_zero(broker, make_raw):
    make_raw(broker, 5, client_id="v5")
    assert broker.stop(timeout=EXIT_DEADLINE, sig=signal.SIGINT) == 0


@pytest.mark.parametrize("version", [4, 5])
def test_clients_are_disconnected_on_sigterm(broker, make_raw, version):
    c = make_raw(broker, version, client_id="c")
    broker.send_signal(signal.SIGTERM)
    pkts = c.wait_closed(timeout=EXIT_DEADLINE)
    assert all(p.type == DISCONNECT for p in pkts), pkts
    if version == 4:
        assert pkts == []
    assert broker.wait_exit(EXIT_DEADLINE) == 0


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 closes MQTT 5 connections without DISCONNECT 0x8B")
def test_v5_client_gets_disconnect_0x8b(broker, make_raw, make_client):
    raw = make_raw(broker, 5, client_id="raw5")
    paho = make_client(broker, "paho5", version=5)
    broker.send_signal(signal.SIGTERM)
    pkts = raw.wait_closed(timeout=EXIT_DEADLINE)
    assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x8B)], pkts
    # (paho 1.6 drops the reason code of a short DISCONNECT, so only the raw
    # client's view is checked for the code)
    paho.wait_disconnected(EXIT_DEADLINE)
    assert broker.wait_exit(EXIT_DEADLINE) == 0


def test_port_closed_after_exit(broker):
    port = broker.port
    assert broker.stop(timeout=EXIT_DEADLINE) == 0
    with pytest.raises(OSError):
        socket.create_connection((broker.host, port), timeout=1).close()


def test_sigterm_with_stalled_consumer_and_traffic(broker, make_raw, make_client):
    """A subscriber that stopped reading (full socket buffers) and a busy
    publisher must not delay the exit."""
    stalled = make_raw(broker, 5, client_id="stalled", rcvbuf=4096)
    stalled.subscribe("flood/#", qos=0)
    pub = make_raw(broker, 5, client_id="flooder")
    payload = b"x" * 16384
    for i in range(400):  # ~6.5 MB: more than the kernel buffers hold
        pub.publish("flood/a", payload, qos=0)
    # a QoS 1 round trip to make sure the broker has taken the flood in
    pub.publish("flood/sync", b"sync", qos=1)
    pub.recv_until(lambda p: p.type != PUBLISH, timeout=10)
    t0 = time.monotonic()
    assert broker.stop(timeout=EXIT_DEADLINE) == 0
    assert time.monotonic() - t0 <= EXIT_DEADLINE
