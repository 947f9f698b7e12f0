"""MQTT over WebSocket (listeners.ws.<name>.*) and over WebSocket over TLS
(listeners.wss.<name>.*): MQTT.js (npm `mqtt`, run by node from ws/) and
paho-mqtt's websocket transport with MQTT 3.1.1 and 5; the upgrade (path 404,
subprotocol negotiation); MQTT packets split across and merged into WebSocket
messages with a raw client; deadlines, shutdown and takeover.

ws/node_modules is installed once with `npm ci` (from ws/package-lock.json)
when it is missing."""

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

import mqttraw
from certs import LineReader, client_tls_context, listener_settings, wait_running
from conftest import free_port
from mqttraw import DISCONNECT, PINGRESP, PUBACK, PUBLISH, SUBACK

# the fixtures tls_certs and processes
pytest_plugins = ["certs.fixtures"]

pytestmark = [pytest.mark.tidemq_only(reason="tidemq's WebSocket listener configuration"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

HERE = Path(__file__).resolve().parent
WS_DIR = HERE / "ws"
NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
NODE_TIMEOUT = 20  # seconds a node script may run (it stops itself after its own 10 s)


# --- MQTT.js -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def mqttjs():
    """Path of the MQTT.js driver script, after `npm ci` if ws/node_modules is missing."""
    marker = WS_DIR / "node_modules" / "mqtt" / "package.json"
    if not marker.exists():
        with open(WS_DIR / ".npm-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing
            if not marker.exists():
                r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=str(WS_DIR),
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
                assert r.returncode == 0, "npm ci in %s failed:\n%s%s" % (
                    WS_DIR, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))
    return str(WS_DIR / "mqttjs_client.js")


def mqttjs_args(script, **opts):
    return [NODE, script, json.dumps(opts)]


def run_mqttjs(script, **opts):
    r = subprocess.run(mqttjs_args(script, **opts), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=NODE_TIMEOUT, cwd=str(WS_DIR))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# --- a raw WebSocket MQTT client -------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def http_upgrade_request(path, protocols=("mqtt",), extra=()):
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_http_response(sock, deadline):
    """(status, headers dict with lower-case names, leftover bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no HTTP response; got %r" % data)
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            raise mqttraw.Closed("closed before an HTTP response; got %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def http_exchange(port, request, tls_ctx=None, timeout=5.0):
    """Send raw bytes, return (status, headers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls_ctx:
            s = tls_ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(request)
        status, headers, _ = read_http_response(s, time.monotonic() + timeout)
        return status, headers
    finally:
        s.close()


class WsRaw(mqttraw.RawClient):
    """mqttraw.RawClient whose bytes travel in WebSocket frames (client-masked).
    send() puts each packet in one binary message; send_message() / send_frame()
    give full control. Data frames from the server must be binary."""

    def __init__(self, port, path="/mqtt", protocols=("mqtt",), version=5, tls_ctx=None, timeout=5.0):
        self.version = version
        self.buf = bytearray()
        self.closed = False
        self.next_pid = 1
        self.frames = bytearray()
        self.pongs = []
        self.close_frame = None
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls_ctx.wrap_socket(s, server_hostname="127.0.0.1") if tls_ctx else s
        self.sock.sendall(http_upgrade_request(path, protocols))
        self.status, self.headers, rest = read_http_response(self.sock, time.monotonic() + timeout)
        assert self.status == 101, (self.status, self.headers)
        self.frames += rest

    def send_frame(self, opcode, payload, fin=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(head + mask + masked)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            raise mqttraw.Closed("connection closed while sending: %s" % e)

    def send_message(self, data, fragments=1, opcode=OP_BINARY):
        """One message, in `fragments` frames."""
        size = max(1, -(-len(data) // fragments))
        parts = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        for i, part in enumerate(parts):
            self.send_frame(opcode if i == 0 else OP_CONT, part, fin=i == len(parts) - 1)

    def send(self, data):
        self.send_message(data)

    def _parse_frames(self):
        """Consume complete frames; True if any data or pong arrived."""
        got_data = False
        while True:
            f = self.frames
            if len(f) < 2:
                return got_data
            op, n, i = f[0] & 0x0F, f[1] & 0x7F, 2
            assert not f[1] & 0x80, "server frames must not be masked"
            if n == 126:
                if len(f) < 4:
                    return got_data
                n, i = struct.unpack("!H", f[2:4])[0], 4
            elif n == 127:
                if len(f) < 10:
                    return got_data
                n, i = struct.unpack("!Q", f[2:10])[0], 10
            if len(f) < i + n:
                return got_data
            payload = bytes(f[i:i + n])
            del f[:i + n]
            if op in (OP_BINARY, OP_CONT):
                self.buf += payload
                got_data = True
            elif op == OP_PONG:
                self.pongs.append(payload)
                got_data = True
            elif op == OP_CLOSE:
                self.close_frame = payload
                raise mqttraw.Closed("close frame %r" % payload)
            elif op == OP_PING:
                self.send_frame(OP_PONG, payload)
            else:
                raise AssertionError("unexpected frame opcode %d" % op)

    def _fill(self, deadline):
        while True:
            if self._parse_frames():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise mqttraw.Timeout("timed out waiting for data")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise mqttraw.Timeout("timed out waiting for data")
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLError):
                raise mqttraw.Closed("connection reset")
            if not data:
                raise mqttraw.Closed("connection closed by peer")
            self.frames += data

    def wait_pong(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.pongs:
            try:
                self._fill(deadline)
            except mqttraw.Timeout:
                raise AssertionError("no pong within %.1fs" % timeout)
        return self.pongs.pop(0)


@pytest.fixture
def ws_raw():
    made = []

    def make(port, version=5, client_id=None, **kw):
        conn_kw = {k: kw.pop(k) for k in ("keepalive", "clean", "props") if k in kw}
        c = WsRaw(port, version=version, **kw)
        made.append(c)
        if client_id is not None:
            c.connack = c.connect(client_id, **conn_kw)
            assert c.connack.rc == 0, c.connack
        return c

    yield make
    for c in made:
        c.close()


# --- brokers -----------------------------------------------------------------------

def start_ws(broker_factory, certs=None, settings=None, path=None, wss=False, **tls_kw):
    """A broker with listeners.ws.w (and listeners.wss.s with wss=True); returns (broker, ws port, wss port)."""
    ws_port, wss_port = free_port(), free_port() if wss else None
    s = listener_settings("ws", "w", ws_port, path=path)
    if wss:
        s.update(listener_settings("wss", "s", wss_port, certs, path=path, **tls_kw))
    s.update(settings or {})
    return wait_running(broker_factory(settings=s)), ws_port, wss_port


# --- MQTT.js ------------------------------------------------------------------------

@pytest.mark.parametrize("protocol_version", [4, 5, 3], ids=["mqtt3.1.1", "mqtt5", "mqtt3.1-mqttv3.1-subprotocol"])
def test_mqttjs_ws_roundtrip(broker_factory, mqttjs, protocol_version, uid):
    b, port, _ = start_ws(broker_factory)
    rc, out, err = run_mqttjs(mqttjs, url="ws://127.0.0.1:%d/mqtt" % port, mode="roundtrip",
                              topic="js/%s" % uid, protocolVersion=protocol_version)
    assert rc == 0, out + err + b.logs()
    assert "ROUNDTRIP ok" in out


@pytest.mark.parametrize("protocol_version", [4, 5])
def test_mqttjs_wss_roundtrip(broker_factory, tls_certs, mqttjs, protocol_version, uid):
    b, _, port = start_ws(broker_factory, tls_certs, wss=True)
    rc, out, err = run_mqttjs(mqttjs, url="wss://127.0.0.1:%d/mqtt" % port, ca=tls_certs.ca_crt, mode="roundtrip",
                              topic="jss/%s" % uid, protocolVersion=protocol_version)
    assert rc == 0, out + err + b.logs()
    assert "ROUNDTRIP ok" in out


def test_mqttjs_wss_wrong_ca_refused(broker_factory, tls_certs, mqttjs):
    b, _, port = start_ws(broker_factory, tls_certs, wss=True)
    rc, out, err = run_mqttjs(mqttjs, url="wss://127.0.0.1:%d/mqtt" % port, ca=tls_certs.other_ca_crt, mode="refused")
    assert rc == 0, out + err
    assert "REFUSED" in out


def test_mqttjs_wrong_path_refused(broker_factory, mqttjs):
    b, port, _ = start_ws(broker_factory)
    rc, out, err = run_mqttjs(mqttjs, url="ws://127.0.0.1:%d/not-mqtt" % port, mode="refused")
    assert rc == 0, out + err
    assert "REFUSED" in out, out
    from mqtthelpers import wait_for
    wait_for(lambda: "websocket upgrade refused (404)" in b.stdout(), message=b.logs())


def test_mqttjs_ws_subscriber_gets_tcp_publish(broker_factory, mqttjs, processes, make_client, uid):
    b, port, _ = start_ws(broker_factory)
    topic = "cross/%s" % uid
    p = processes.start(mqttjs_args(mqttjs, url="ws://127.0.0.1:%d/mqtt" % port, mode="subscribe", topic=topic,
                                    protocolVersion=5), cwd=str(WS_DIR))
    r = LineReader(p)
    r.wait_line(lambda l: l == "READY")
    make_client(b, "tcp-pub-" + uid).publish(topic, b"from tcp", qos=1)
    r.wait_line(lambda l: l.startswith("MESSAGE"))
    assert p.wait(NODE_TIMEOUT) == 0
    assert "MESSAGE 1 from tcp" in r.text()


def test_mqttjs_wss_publish_reaches_tcp_and_ws_subscribers(broker_factory, tls_certs, mqttjs, make_client,
                                                           paho_clients, uid):
    b, ws_port, wss_port = start_ws(broker_factory, tls_certs, wss=True)
    topic = "fan/%s" % uid
    tcp_sub = make_client(b, "tcp-sub-" + uid)
    tcp_sub.subscribe(topic, qos=1)
    ws_sub = paho_clients(ws_port, transport="websockets", client_id="ws-sub-" + uid).connect()
    ws_sub.subscribe(topic, qos=1)
    rc, out, err = run_mqttjs(mqttjs, url="wss://127.0.0.1:%d/mqtt" % wss_port, ca=tls_certs.ca_crt, mode="publish",
                              topic=topic, payload="from mqtt.js over wss", protocolVersion=4)
    assert rc == 0, out + err
    for c in (tcp_sub, ws_sub):
        m = c.messages.get()
        assert (m.topic, m.payload, m.qos) == (topic, b"from mqtt.js over wss", 1)


# --- paho websockets ------------------------------------------------------------------

@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("version", [4, 5])
def test_paho_websockets_roundtrip(broker_factory, tls_certs, paho_clients, version, secure, uid):
    b, ws_port, wss_port = start_ws(broker_factory, tls_certs, wss=secure)
    port, ca = (wss_port, tls_certs.ca_crt) if secure else (ws_port, None)
    sub = paho_clients(port, version=version, transport="websockets", ca=ca, client_id="s-" + uid).connect()
    pub = paho_clients(port, version=version, transport="websockets", ca=ca, client_id="p-" + uid).connect()
    assert sub.subscribe("pws/%s/+" % uid, qos=1) == [1]
    big = os.urandom(200000)
    pub.publish("pws/%s/small" % uid, b"hi", qos=1)
    pub.publish("pws/%s/big" % uid, big, qos=1)
    got = sub.messages.get_n(2)
    assert [(m.topic, m.payload, m.qos) for m in got] == [("pws/%s/small" % uid, b"hi", 1),
                                                           ("pws/%s/big" % uid, big, 1)]
    pub.disconnect()
    sub.disconnect()


def test_paho_websockets_custom_path(broker_factory, paho_clients, uid):
    b, port, _ = start_ws(broker_factory, path="/custom/mqtt")
    c = paho_clients(port, transport="websockets", ws_path="/custom/mqtt", client_id="c-" + uid).connect()
    assert c.subscribe("p/%s" % uid, qos=1) == [1]
    with pytest.raises(Exception):
        paho_clients(port, transport="websockets", ws_path="/mqtt", client_id="d-" + uid).connect(timeout=5)


def test_paho_wss_mutual_tls(broker_factory, tls_certs, paho_clients, uid):
    b, _, port = start_ws(broker_factory, tls_certs, wss=True, verify="verify_peer", fail_if_no_peer_cert=True)
    c = paho_clients(port, transport="websockets", ca=tls_certs.ca_crt, cert=tls_certs.client_crt,
                     key=tls_certs.client_key, client_id="m-" + uid).connect()
    assert c.subscribe("mw/%s" % uid, qos=1) == [1]
    with pytest.raises(Exception):
        paho_clients(port, transport="websockets", ca=tls_certs.ca_crt, client_id="n-" + uid).connect(timeout=5)


# --- the upgrade ------------------------------------------------------------------------

@pytest.mark.parametrize("offered,answered", [
    (("mqtt",), "mqtt"),
    (("mqttv3.1",), "mqttv3.1"),
    (("foo", "mqtt"), "mqtt"),
    (("MQTT",), "MQTT"),
    ((), None),
])
def test_subprotocol_negotiation(broker_factory, offered, answered):
    b, port, _ = start_ws(broker_factory)
    status, headers = http_exchange(port, http_upgrade_request("/mqtt", offered))
    assert status == 101, (status, headers)
    assert headers.get("sec-websocket-protocol") == answered


def test_unsupported_subprotocol_refused(broker_factory):
    b, port, _ = start_ws(broker_factory)
    status, _ = http_exchange(port, http_upgrade_request("/mqtt", ("chat", "wamp")))
    assert status == 400


@pytest.mark.parametrize("path", ["/", "/mqt", "/mqtt/", "/mqttx", "/other"])
def test_wrong_path_gets_404(broker_factory, path):
    b, port, _ = start_ws(broker_factory)
    status, headers = http_exchange(port, http_upgrade_request(path))
    assert status == 404
    assert "sec-websocket-accept" not in headers


def test_path_with_query_string_accepted(broker_factory):
    b, port, _ = start_ws(broker_factory)
    status, _ = http_exchange(port, http_upgrade_request("/mqtt?token=abc"))
    assert status == 101


def test_plain_http_get_gets_426(broker_factory):
    b, port, _ = start_ws(broker_factory)
    status, headers = http_exchange(port, b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 426
    assert headers.get("upgrade", "").lower() == "websocket"


def test_oversized_headers_get_431(broker_factory):
    b, port, _ = start_ws(broker_factory)
    big = b"X-Filler: " + b"a" * (20 * 1024) + b"\r\n"
    request = http_upgrade_request("/mqtt").replace(b"\r\n\r\n", b"\r\n" + big + b"\r\n", 1)
    status, headers = http_exchange(port, request)
    assert status == 431
    assert headers.get("connection", "").lower() == "close"


def test_a_request_that_is_not_http_gets_400(broker_factory):
    b, port, _ = start_ws(broker_factory)
    status, _ = http_exchange(port, b"\x10\x0c\x00\x04MQTT\x05\x02\x00\x3c\x00\r\n\r\n")
    assert status == 400


def test_wss_wrong_path_gets_404(broker_factory, tls_certs):
    b, _, port = start_ws(broker_factory, tls_certs, wss=True)
    status, _ = http_exchange(port, http_upgrade_request("/nope"), tls_ctx=client_tls_context(tls_certs))
    assert status == 404


def test_refusals_logged_not_as_errors(broker_factory):
    b, port, _ = start_ws(broker_factory)
    http_exchange(port, http_upgrade_request("/nope"))
    from mqtthelpers import wait_for
    wait_for(lambda: "websocket upgrade refused (404)" in b.stdout(), message=b.logs())
    assert not [l for l in b.stdout().splitlines() if "[error]" in l or "[critical]" in l]


# --- framing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_packets_split_across_and_merged_into_messages(broker_factory, ws_raw, version, uid):
    b, port, _ = start_ws(broker_factory)
    c = ws_raw(port, version=version)
    assert c.headers.get("sec-websocket-protocol") == "mqtt"
    connect = mqttraw.connect_packet("split-" + uid, version=version)
    # CONNECT in three messages, the second one fragmented into continuation frames
    c.send_message(connect[:1])
    c.send_message(connect[1:5], fragments=3)
    c.send_message(connect[5:])
    assert c.expect(mqttraw.CONNACK).rc == 0
    # SUBSCRIBE + PUBLISH QoS 1 + PINGREQ in one message
    topic = "split/%s" % uid
    sub = mqttraw.subscribe_packet(1, [(topic, {"qos": 1})], version=version)
    pub = mqttraw.publish_packet(topic, b"merged", qos=1, pid=2, version=version)
    c.send_message(sub + pub + b"\xc0\x00")
    got = [c.recv() for _ in range(4)]
    types = sorted(p.type for p in got)
    assert types == sorted([SUBACK, PUBACK, PUBLISH, PINGRESP]), got
    assert [p.payload for p in got if p.type == PUBLISH] == [b"merged"]
    # a packet split at every byte, each byte its own message
    pub2 = mqttraw.publish_packet(topic, b"bytewise", qos=0, version=version)
    for i in range(len(pub2)):
        c.send_message(pub2[i:i + 1])
    got, _ = c.recv_until(lambda p: p.type == PUBLISH)
    assert got.payload == b"bytewise"


def test_large_message_both_ways(broker_factory, ws_raw, uid):
    b, port, _ = start_ws(broker_factory)
    c = ws_raw(port, client_id="big-" + uid)
    c.subscribe("big/%s" % uid, qos=1)
    payload = os.urandom(600000)
    c.publish("big/%s" % uid, payload, qos=1)
    got = {}
    while len(got) < 2:
        p = c.recv(timeout=10)
        got[p.type] = p
    assert got[PUBLISH].payload == payload and got[PUBACK].rc == 0


def test_burst_of_small_packets_in_order(broker_factory, ws_raw, uid):
    """3000 QoS 0 PUBLISHes, 100 per WebSocket message, arrive complete and in order."""
    b, port, _ = start_ws(broker_factory)
    sub = ws_raw(port, client_id="burst-sub-" + uid)
    sub.subscribe("burst/%s" % uid, qos=0)
    pub = ws_raw(port, client_id="burst-pub-" + uid)
    packets = [mqttraw.publish_packet("burst/%s" % uid, b"%06d" % i, qos=0) for i in range(3000)]
    for i in range(0, len(packets), 100):
        pub.send_message(b"".join(packets[i:i + 100]))
    got = [sub.expect(PUBLISH, timeout=10).payload for _ in range(3000)]
    assert got == [b"%06d" % i for i in range(3000)]


def test_text_frame_closes_connection(broker_factory, ws_raw, uid):
    b, port, _ = start_ws(broker_factory)
    c = ws_raw(port, client_id="text-" + uid)
    c.send_message(b"\xc0\x00", opcode=OP_TEXT)  # a PINGREQ, but in a text frame
    assert c.wait_closed(timeout=5) == []


def test_websocket_ping_answered(broker_factory, ws_raw, uid):
    b, port, _ = start_ws(broker_factory)
    c = ws_raw(port, client_id="ping-" + uid)
    c.send_frame(OP_PING, b"are you there")
    assert c.wait_pong() == b"are you there"


def test_client_close_frame_publishes_will(broker_factory, ws_raw, make_client, uid):
    b, port, _ = start_ws(broker_factory)
    watcher = make_client(b, "w-" + uid)
    watcher.subscribe("will/%s" % uid, qos=1)
    c = ws_raw(port)
    assert c.connect("dying-" + uid, will={"topic": "will/%s" % uid, "payload": b"gone"}).rc == 0
    # a WebSocket close without MQTT DISCONNECT: an abnormal end for MQTT, so the will goes out
    c.send_frame(OP_CLOSE, struct.pack("!H", 1000))
    assert c.wait_closed(timeout=5) == []  # the server's close frame
    assert c.close_frame is not None and c.close_frame[:2] == struct.pack("!H", 1000)
    c.sock.close()  # the client closes TCP once the closing handshake is done
    m = watcher.messages.get()
    assert (m.topic, m.payload) == ("will/%s" % uid, b"gone")


def test_client_that_never_closes_after_close_frame_is_closed(broker_factory, ws_raw, uid):
    b, port, _ = start_ws(broker_factory)
    c = ws_raw(port, client_id="linger-" + uid)
    c.send_frame(OP_CLOSE, struct.pack("!H", 1000))
    assert c.wait_closed(timeout=5) == []  # the server's close frame
    t0 = time.monotonic()
    with pytest.raises(mqttraw.Closed):
        c.frames.clear()
        c._fill(time.monotonic() + 8)  # then EOF from the server within its 5 s closing deadline
    assert time.monotonic() - t0 <= 7


# --- deadlines, shutdown, takeover -------------------------------------------------------

def test_no_upgrade_request_closed_at_idle_timeout(broker_factory):
    b, port, _ = start_ws(broker_factory, settings={"mqtt.idle_timeout": 1})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        s.settimeout(5)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
    assert 0.8 <= time.monotonic() - t0 <= 3.5


def test_no_connect_after_upgrade_closed_at_idle_timeout(broker_factory, ws_raw):
    b, port, _ = start_ws(broker_factory, settings={"mqtt.idle_timeout": 1})
    c = ws_raw(port)
    t0 = time.monotonic()
    assert c.wait_closed(timeout=5) == []
    assert 0.8 <= time.monotonic() - t0 <= 3.5


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_keepalive_enforced(broker_factory, tls_certs, ws_raw, secure, uid):
    b, ws_port, wss_port = start_ws(broker_factory, tls_certs, wss=secure)
    kw = dict(tls_ctx=client_tls_context(tls_certs)) if secure else {}
    c = ws_raw(wss_port if secure else ws_port, client_id="ka-" + uid, keepalive=1, **kw)
    t0 = time.monotonic()
    pkts = c.wait_closed(timeout=5)
    assert 1.3 <= time.monotonic() - t0 <= 3.5
    assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x8D)]


def test_sigterm_disconnects_ws_clients(broker_factory, tls_certs, ws_raw, uid):
    b, ws_port, wss_port = start_ws(broker_factory, tls_certs, wss=True)
    c5 = ws_raw(ws_port, client_id="v5-" + uid)
    c4 = ws_raw(ws_port, version=4, client_id="v4-" + uid)
    s5 = ws_raw(wss_port, client_id="s5-" + uid, tls_ctx=client_tls_context(tls_certs))
    upgrading = socket.create_connection(("127.0.0.1", ws_port), timeout=5)  # no HTTP request yet
    try:
        t0 = time.monotonic()
        b.send_signal(signal.SIGTERM)
        assert [(p.type, p.rc) for p in c5.wait_closed(timeout=5)] == [(DISCONNECT, 0x8B)]
        assert [(p.type, p.rc) for p in s5.wait_closed(timeout=5)] == [(DISCONNECT, 0x8B)]
        assert c4.wait_closed(timeout=5) == []
        assert b.wait_exit(5) == 0
        assert time.monotonic() - t0 <= 5
    finally:
        upgrading.close()


def test_takeover_across_transports(broker_factory, tls_certs, ws_raw, make_raw, uid):
    b, ws_port, wss_port = start_ws(broker_factory, tls_certs, wss=True)
    first = ws_raw(ws_port, client_id="same-" + uid)
    second = ws_raw(wss_port, client_id="same-" + uid, tls_ctx=client_tls_context(tls_certs))
    assert [(p.type, p.rc) for p in first.wait_closed(timeout=5)] == [(DISCONNECT, 0x8E)]
    make_raw(b, 5, client_id="same-" + uid)
    assert [(p.type, p.rc) for p in second.wait_closed(timeout=5)] == [(DISCONNECT, 0x8E)]


def test_ws_port_in_use_exits_1(broker_factory):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        b = broker_factory(settings=listener_settings("ws", "w", port), start=False)
        rc, out, err = b.run_to_exit()
        assert rc == 1, out + err
        assert "listener ws.w: cannot listen on 127.0.0.1:%d" % port in out + err
    finally:
        taken.close()
