"""Resource limits a hostile or unlucky crowd meets: a listener's max_connections (sockets before
CONNECT count too) and max_conn_rate, the admin API's max_connections and request timeout, each
with the /metrics counters an operator watches and a clear config error for a bad value."""

import socket
import time

import pytest

from adminhelpers import start_with_admin_api
from conftest import free_port
import mqttraw
from mqtthelpers import wait_for
from test_config import run_expecting_failure
from test_metrics import http_get, scrape

pytestmark = pytest.mark.tidemq_only(reason="tidemq's own listener limits")


def closed_by_server(sock, timeout=5.0):
    """True when the server closes the socket (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def idle_sockets(port, n):
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]


def node_with_admin(broker_factory, settings):
    b, port, _ = start_with_admin_api(broker_factory, settings)
    b.admin_port = port
    return b


def test_tcp_listener_max_connections_counts_sockets_before_connect(broker_factory, uid):
    b = node_with_admin(broker_factory, {"listeners.tcp.default.max_connections": 3})
    held = idle_sockets(b.port, 3)  # no CONNECT: they still hold a slot each
    wait_for(lambda: scrape(b)("tidemq_listener_connections", listener="tcp.default") == 3)
    extra = socket.create_connection(("127.0.0.1", b.port), timeout=5)
    assert closed_by_server(extra), "a 4th socket must be closed at once"
    m = scrape(b)
    assert m("tidemq_listener_refused_total", listener="tcp.default") == 1
    assert m("tidemq_listener_connections", listener="tcp.default") == 3
    assert "listener tcp.default: at max_connections (3)" in b.logs()
    # One closes: its slot is free again and a real client gets in.
    held.pop().close()
    wait_for(lambda: scrape(b)("tidemq_listener_connections", listener="tcp.default") == 2)
    c = mqttraw.RawClient(b.host, b.port)
    assert c.connect(uid).rc == 0
    for s in held:
        s.close()


def test_tcp_listener_max_conn_rate_delays_but_admits_everyone(broker_factory, uid):
    b = node_with_admin(broker_factory, {"listeners.tcp.default.max_conn_rate": 20})
    clients = []
    for i in range(40):  # twice the rate: the listener has to pause
        c = mqttraw.RawClient(b.host, b.port, timeout=10)
        clients.append(c)
    for i, c in enumerate(clients):
        assert c.connect("%s-%d" % (uid, i), timeout=10).rc == 0
    m = scrape(b)
    assert m("tidemq_listener_accept_paused_total", listener="tcp.default") > 0
    assert m("tidemq_listener_refused_total", listener="tcp.default") == 0
    assert m("tidemq_listener_accepted_total", listener="tcp.default") >= 40


def test_ws_listener_has_its_own_max_connections(broker_factory):
    ws_port = free_port()
    b = node_with_admin(broker_factory, {"listeners.ws.default.bind": "127.0.0.1:%d" % ws_port,
                                         "listeners.ws.default.max_connections": 1})
    held = socket.create_connection(("127.0.0.1", ws_port), timeout=5)
    wait_for(lambda: scrape(b)("tidemq_listener_connections", listener="ws.default") == 1)
    extra = socket.create_connection(("127.0.0.1", ws_port), timeout=5)
    assert closed_by_server(extra)
    assert scrape(b)("tidemq_listener_refused_total", listener="ws.default") == 1
    # The TCP listener is not affected.
    assert mqttraw.RawClient(b.host, b.port).connect("plain-tcp").rc == 0
    held.close()


def test_admin_max_connections_answers_503_then_frees(broker_factory):
    b = node_with_admin(broker_factory, {"management.max_connections": 2})
    held = idle_sockets(b.admin_port, 2)
    extra = socket.create_connection(("127.0.0.1", b.admin_port), timeout=5)
    reply = b""
    while True:
        chunk = extra.recv(4096)
        if not chunk:
            break
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 503"), reply
    assert b"too many admin connections" in reply
    assert b"Retry-After: 1" in reply
    for s in held:
        s.close()
    status = wait_for(lambda: http_get(b.admin_port, "/metrics")[0] == 200 or None, timeout=10)
    assert status
    m = scrape(b)
    assert m("tidemq_admin_connections_refused_total") >= 1
    assert "management.max_connections" in b.logs()


def test_admin_request_timeout_closes_a_silent_connection(broker_factory):
    b = node_with_admin(broker_factory, {"management.request_timeout": "1s"})
    s = socket.create_connection(("127.0.0.1", b.admin_port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    started = time.monotonic()
    assert closed_by_server(s, timeout=10)
    assert time.monotonic() - started < 9  # it was the 1 s timeout, not the 30 s default
    # The server itself is fine.
    assert http_get(b.admin_port, "/metrics")[0] == 200


@pytest.mark.parametrize("key,value,expect", [
    ("listeners.tcp.default.max_connections", -1, "listeners.tcp.default.max_connections"),
    ("listeners.tcp.default.max_conn_rate", "fast", "listeners.tcp.default.max_conn_rate"),
    ("listeners.ws.x.max_connections", -5, "listeners.ws.x.max_connections"),
    ("management.max_connections", 0, "management.max_connections"),
    ("management.request_timeout", "soon", "management.request_timeout"),
    ("management.reply_timeout", "0s", "management.reply_timeout"),
])
def test_bad_limit_values_are_refused_with_the_key(broker_factory, key, value, expect):
    settings = {key: value}
    if key.startswith("listeners.ws.x"):
        settings["listeners.ws.x.bind"] = "127.0.0.1:%d" % free_port()
    rc, out = run_expecting_failure(broker_factory, settings=settings)
    assert rc == 2, out
    assert expect in out, out
