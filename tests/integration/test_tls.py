"""MQTT over TLS listeners (listeners.ssl.<name>.*): server-only and mutual TLS
with mosquitto_pub / mosquitto_sub, paho-mqtt and a raw client; TLS versions,
handshake and keep-alive deadlines, shutdown, takeover across transports and
startup failures.

Certificates are made by the session fixture `tls_certs` (certs/__init__.py)."""

import signal
import socket
import ssl
import subprocess
import time

import pytest

import mqttraw
from certs import LineReader, client_tls_context, listener_settings, wait_running
from conftest import free_port
from mqttraw import DISCONNECT, PUBLISH

# the fixtures tls_certs and processes
pytest_plugins = ["certs.fixtures"]

pytestmark = [pytest.mark.tidemq_only(reason="tidemq's TLS listener configuration"),
              # paho 1.6 uses ssl.PROTOCOL_TLS; the TLS 1.1 test has to name TLSv1_1
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

MOSQ_TIMEOUT = 15  # seconds any mosquitto_pub / mosquitto_sub may run


class TlsRaw(mqttraw.RawClient):
    """mqttraw.RawClient over TLS (an ssl.SSLContext from client_tls_context)."""

    def __init__(self, port, ctx, version=5, timeout=5.0, server_hostname="127.0.0.1"):
        self.version = version
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except Exception:
            raw.close()
            raise
        self.buf = bytearray()
        self.closed = False
        self.next_pid = 1

    def send(self, data):
        try:
            super().send(data)
        except ssl.SSLError as e:
            raise mqttraw.Closed("tls: %s" % e)

    def _fill(self, deadline):
        try:
            super()._fill(deadline)
        except ssl.SSLError as e:
            raise mqttraw.Closed("tls: %s" % e)


@pytest.fixture
def tls_raw():
    made = []

    def make(port, ctx, version=5, client_id=None, **kw):
        c = TlsRaw(port, ctx, version=version)
        made.append(c)
        if client_id is not None:
            c.connack = c.connect(client_id, **kw)
            assert c.connack.rc == 0, c.connack
        return c

    yield make
    for c in made:
        c.close()


def start_tls(broker_factory, certs, name="t", settings=None, **listener_kw):
    port = free_port()
    s = listener_settings("ssl", name, port, certs, **listener_kw)
    s.update(settings or {})
    b = wait_running(broker_factory(settings=s))
    return b, port


def mosq(tool, port, certs, *args, ca=None, cert=None, key=None, version=None):
    cmd = [tool, "-h", "127.0.0.1", "-p", str(port), "--cafile", ca or certs.ca_crt]
    if cert:
        cmd += ["--cert", cert, "--key", key]
    if version:
        cmd += ["-V", version]
    return cmd + list(args)


def run(cmd, timeout=MOSQ_TIMEOUT):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def start_sub(processes, cmd):
    """mosquitto_sub -d (line buffered) running until its SUBACK; returns (proc, reader)."""
    p = processes.start(["stdbuf", "-oL"] + cmd + ["-d"])
    r = LineReader(p)
    r.wait_line(lambda l: "received SUBACK" in l)
    return p, r


def wait_eof(sock, timeout=5.0):
    """Read until the peer closes; returns what it sent. Fails at the deadline."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("connection still open after %.1fs" % timeout)
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def assert_no_error_logged(broker):
    out = broker.stdout() + broker.stderr()
    bad = [l for l in out.splitlines() if "[error]" in l or "[critical]" in l]
    assert not bad, bad


def assert_serving_tls(port, certs):
    r = run(mosq("mosquitto_pub", port, certs, "-t", "alive/tls", "-m", "x", "-q", "1"))
    assert r.returncode == 0, r.stderr


# --- server-only TLS -----------------------------------------------------------

@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_sub_server_only_tls(broker_factory, tls_certs, processes, version, uid):
    b, port = start_tls(broker_factory, tls_certs)
    topic = "tls/%s" % uid
    p, r = start_sub(processes, mosq("mosquitto_sub", port, tls_certs, "-t", topic, "-C", "1", "-W", "10",
                                     "-q", "1", "-v", version=version))
    pub = run(mosq("mosquitto_pub", port, tls_certs, "-t", topic, "-m", "over-tls", "-q", "1", version=version))
    assert pub.returncode == 0, pub.stderr
    r.wait_line(lambda l: l == "%s over-tls" % topic)
    assert p.wait(MOSQ_TIMEOUT) == 0


def test_tls_and_tcp_clients_exchange_messages(broker_factory, tls_certs, processes, make_client, uid):
    b, port = start_tls(broker_factory, tls_certs)
    # a TCP subscriber gets what a TLS publisher sends ...
    tcp_sub = make_client(b, "tcp-" + uid)
    tcp_sub.subscribe("x/%s/#" % uid, qos=1)
    pub = run(mosq("mosquitto_pub", port, tls_certs, "-t", "x/%s/a" % uid, "-m", "from-tls", "-q", "1"))
    assert pub.returncode == 0, pub.stderr
    m = tcp_sub.messages.get()
    assert (m.topic, m.payload, m.qos) == ("x/%s/a" % uid, b"from-tls", 1)
    # ... and a TLS subscriber what a TCP publisher sends
    p, r = start_sub(processes, mosq("mosquitto_sub", port, tls_certs, "-t", "y/%s" % uid, "-C", "1", "-W", "10",
                                     "-q", "1"))
    make_client(b, "tcp-pub-" + uid).publish("y/%s" % uid, b"from-tcp", qos=1)
    r.wait_line(lambda l: l == "from-tcp")
    assert p.wait(MOSQ_TIMEOUT) == 0


def test_hostname_localhost_matches_certificate(broker_factory, tls_certs):
    b, port = start_tls(broker_factory, tls_certs)
    ctx = client_tls_context(tls_certs)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")


def test_client_with_wrong_ca_refuses_server(broker_factory, tls_certs):
    b, port = start_tls(broker_factory, tls_certs)
    r = run(mosq("mosquitto_pub", port, tls_certs, "-t", "t", "-m", "x", ca=tls_certs.other_ca_crt))
    assert r.returncode != 0
    assert b"TLS" in r.stderr or b"certificate" in r.stderr.lower(), r.stderr
    assert_serving_tls(port, tls_certs)
    assert_no_error_logged(b)


@pytest.mark.parametrize("version", [4, 5])
def test_paho_over_tls(broker_factory, tls_certs, paho_clients, version, uid):
    b, port = start_tls(broker_factory, tls_certs)
    sub = paho_clients(port, version=version, ca=tls_certs.ca_crt, client_id="sub-" + uid).connect()
    pub = paho_clients(port, version=version, ca=tls_certs.ca_crt, client_id="pub-" + uid).connect()
    assert sub.subscribe("paho/tls/%s" % uid, qos=1) == [1]
    pub.publish("paho/tls/%s" % uid, b"secret", qos=1)
    m = sub.messages.get()
    assert (m.payload, m.qos) == (b"secret", 1)
    pub.disconnect()
    sub.disconnect()


def test_large_messages_over_tls(broker_factory, tls_certs, tls_raw, uid):
    """Payloads spanning many TLS records and reads, both ways."""
    b, port = start_tls(broker_factory, tls_certs)
    ctx = client_tls_context(tls_certs)
    sub = tls_raw(port, ctx, client_id="big-sub-" + uid)
    sub.subscribe("big/%s" % uid, qos=1)
    pub = tls_raw(port, ctx, client_id="big-pub-" + uid)
    payloads = [bytes([i]) * n for i, n in enumerate((1, 70000, 500000, 3))]
    for p in payloads:
        pub.publish_acked("big/%s" % uid, p, qos=1)
    for p in payloads:
        got = sub.expect(PUBLISH, timeout=10)
        assert got.payload == p
        sub.puback(got.pid)


def test_burst_of_small_packets_in_order(broker_factory, tls_certs, tls_raw, uid):
    """3000 QoS 0 PUBLISHes written at once (packets cut at TLS record and read boundaries)
    arrive complete and in order."""
    b, port = start_tls(broker_factory, tls_certs)
    ctx = client_tls_context(tls_certs)
    sub = tls_raw(port, ctx, client_id="burst-sub-" + uid)
    sub.subscribe("burst/%s" % uid, qos=0)
    pub = tls_raw(port, ctx, client_id="burst-pub-" + uid)
    pub.send(b"".join(mqttraw.publish_packet("burst/%s" % uid, b"%06d" % i, qos=0) for i in range(3000)))
    got = [sub.expect(PUBLISH, timeout=10).payload for _ in range(3000)]
    assert got == [b"%06d" % i for i in range(3000)]


@pytest.mark.parametrize("tls_version,accepted", [
    (ssl.TLSVersion.TLSv1_3, True),
    (ssl.TLSVersion.TLSv1_2, True),
    (ssl.TLSVersion.TLSv1_1, False),
])
def test_tls_versions(broker_factory, tls_certs, tls_raw, tls_version, accepted, uid):
    b, port = start_tls(broker_factory, tls_certs)
    ctx = client_tls_context(tls_certs, version=tls_version)
    if not accepted:
        # let the client offer it; the server must be the one refusing
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with pytest.raises(ssl.SSLError) as e:
            tls_raw(port, ctx)
        assert "PROTOCOL_VERSION" in str(e.value).upper() or "protocol version" in str(e.value), e.value
        return
    c = tls_raw(port, ctx, client_id="v-" + uid)
    assert c.sock.version() == {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[tls_version]


# --- mutual TLS ----------------------------------------------------------------

def test_mutual_tls_client_certificate_accepted(broker_factory, tls_certs, processes, uid):
    b, port = start_tls(broker_factory, tls_certs, verify="verify_peer", fail_if_no_peer_cert=True)
    certs = dict(cert=tls_certs.client_crt, key=tls_certs.client_key)
    topic = "mtls/%s" % uid
    p, r = start_sub(processes, mosq("mosquitto_sub", port, tls_certs, "-t", topic, "-C", "1", "-W", "10", "-q", "1",
                                     **certs))
    pub = run(mosq("mosquitto_pub", port, tls_certs, "-t", topic, "-m", "mutual", "-q", "1", **certs))
    assert pub.returncode == 0, pub.stderr
    r.wait_line(lambda l: l == "mutual")
    assert p.wait(MOSQ_TIMEOUT) == 0


def test_mutual_tls_without_client_certificate_refused(broker_factory, tls_certs):
    b, port = start_tls(broker_factory, tls_certs, verify="verify_peer", fail_if_no_peer_cert=True)
    r = run(mosq("mosquitto_pub", port, tls_certs, "-t", "t", "-m", "x", "-q", "1"))
    assert r.returncode != 0, r.stdout
    # refused by the server, logged at info (not as an error)
    from mqtthelpers import wait_for
    wait_for(lambda: "did not return a certificate" in b.stdout(), message=b.logs())
    assert "[info] ssl.t" in b.stdout()
    assert_no_error_logged(b)


def test_mutual_tls_certificate_from_other_ca_refused(broker_factory, tls_certs):
    b, port = start_tls(broker_factory, tls_certs, verify="verify_peer", fail_if_no_peer_cert=True)
    r = run(mosq("mosquitto_pub", port, tls_certs, "-t", "t", "-m", "x", "-q", "1",
                 cert=tls_certs.other_client_crt, key=tls_certs.other_client_key))
    assert r.returncode != 0, r.stdout
    ok = run(mosq("mosquitto_pub", port, tls_certs, "-t", "t", "-m", "x", "-q", "1",
                  cert=tls_certs.client_crt, key=tls_certs.client_key))
    assert ok.returncode == 0, ok.stderr
    assert_no_error_logged(b)


def test_verify_peer_without_fail_if_no_peer_cert(broker_factory, tls_certs, tls_raw, uid):
    """verify_peer alone: a certificate is verified when sent, but not required."""
    b, port = start_tls(broker_factory, tls_certs, verify="verify_peer")
    tls_raw(port, client_tls_context(tls_certs), client_id="nocert-" + uid)
    tls_raw(port, client_tls_context(tls_certs, cert=tls_certs.client_crt, key=tls_certs.client_key),
            client_id="cert-" + uid)
    bad = client_tls_context(tls_certs, cert=tls_certs.other_client_crt, key=tls_certs.other_client_key)
    with pytest.raises((ssl.SSLError, mqttraw.Closed, ConnectionError)):
        # TLS 1.3: the client learns of the refusal on its first read
        c = tls_raw(port, bad)
        c.connect("bad-" + uid)


def test_paho_mutual_tls(broker_factory, tls_certs, paho_clients, uid):
    b, port = start_tls(broker_factory, tls_certs, verify="verify_peer", fail_if_no_peer_cert=True)
    c = paho_clients(port, version=5, ca=tls_certs.ca_crt, cert=tls_certs.client_crt, key=tls_certs.client_key,
                     client_id="paho-mtls-" + uid).connect()
    assert c.subscribe("m/%s" % uid, qos=1) == [1]
    c.publish("m/%s" % uid, b"hello", qos=1)
    assert c.messages.get().payload == b"hello"
    c.disconnect()


# --- deadlines, misbehaving peers, shutdown, takeover ---------------------------

def test_handshake_deadline_is_the_idle_timeout(broker_factory, tls_certs):
    b, port = start_tls(broker_factory, tls_certs, settings={"mqtt.idle_timeout": 1})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        assert wait_eof(s) == b""  # closed by the broker, nothing sent
    assert 0.8 <= time.monotonic() - t0 <= 3.5


def test_no_connect_after_handshake_closed(broker_factory, tls_certs, tls_raw):
    b, port = start_tls(broker_factory, tls_certs, settings={"mqtt.idle_timeout": 1})
    c = tls_raw(port, client_tls_context(tls_certs))
    t0 = time.monotonic()
    assert c.wait_closed(timeout=5) == []
    assert 0.8 <= time.monotonic() - t0 <= 3.5


def test_plain_mqtt_on_tls_port_is_refused_quietly(broker_factory, tls_certs, uid):
    b, port = start_tls(broker_factory, tls_certs)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(mqttraw.connect_packet("plain-" + uid))
        wait_eof(s)  # perhaps after a TLS alert, never a CONNACK
    from mqtthelpers import wait_for
    wait_for(lambda: "tls handshake failed" in b.stdout(), message=b.logs())
    assert_no_error_logged(b)
    assert_serving_tls(port, tls_certs)


@pytest.mark.parametrize("version", [4, 5])
def test_keepalive_enforced_over_tls(broker_factory, tls_certs, tls_raw, version, uid):
    b, port = start_tls(broker_factory, tls_certs)
    c = tls_raw(port, client_tls_context(tls_certs), version=version, client_id="ka-" + uid, keepalive=1)
    t0 = time.monotonic()
    pkts = c.wait_closed(timeout=5)
    took = time.monotonic() - t0
    assert 1.3 <= took <= 3.5, took
    if version == 5:
        assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x8D)]
    else:
        assert pkts == []


def test_sigterm_disconnects_tls_clients(broker_factory, tls_certs, tls_raw, uid):
    b, port = start_tls(broker_factory, tls_certs)
    c5 = tls_raw(port, client_tls_context(tls_certs), version=5, client_id="v5-" + uid)
    c4 = tls_raw(port, client_tls_context(tls_certs), version=4, client_id="v4-" + uid)
    handshaking = socket.create_connection(("127.0.0.1", port), timeout=5)  # no ClientHello yet
    try:
        t0 = time.monotonic()
        b.send_signal(signal.SIGTERM)
        assert [(p.type, p.rc) for p in c5.wait_closed(timeout=5)] == [(DISCONNECT, 0x8B)]
        assert c4.wait_closed(timeout=5) == []
        assert b.wait_exit(5) == 0
        assert time.monotonic() - t0 <= 5
    finally:
        handshaking.close()


def test_takeover_from_tls_by_tcp(broker_factory, tls_certs, tls_raw, make_raw, uid):
    b, port = start_tls(broker_factory, tls_certs)
    old = tls_raw(port, client_tls_context(tls_certs), version=5, client_id="same-" + uid)
    make_raw(b, 5, client_id="same-" + uid)
    assert [(p.type, p.rc) for p in old.wait_closed(timeout=5)] == [(DISCONNECT, 0x8E)]


def test_takeover_from_tcp_by_tls(broker_factory, tls_certs, tls_raw, make_raw, uid):
    b, port = start_tls(broker_factory, tls_certs)
    old = make_raw(b, 5, client_id="same-" + uid, clean=False, props={"SessionExpiryInterval": 60})
    old.subscribe("keep/%s" % uid, qos=1)
    new = tls_raw(port, client_tls_context(tls_certs), version=5)
    ack = new.connect("same-" + uid, clean=False, props={"SessionExpiryInterval": 60})
    assert ack.rc == 0 and ack.session_present
    assert [(p.type, p.rc) for p in old.wait_closed(timeout=5)] == [(DISCONNECT, 0x8E)]
    new.publish("keep/%s" % uid, b"still subscribed", qos=1)
    got, _ = new.recv_until(lambda p: p.type == PUBLISH)
    assert got.payload == b"still subscribed"


# --- startup failures -----------------------------------------------------------

def test_port_in_use_exits_1(broker_factory, tls_certs):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        b = broker_factory(settings=listener_settings("ssl", "t", port, tls_certs), start=False)
        rc, out, err = b.run_to_exit()
        assert rc == 1, out + err
        assert "listener ssl.t: cannot listen on 127.0.0.1:%d" % port in out + err
    finally:
        taken.close()


@pytest.mark.parametrize("problem", ["missing certfile", "missing keyfile", "key does not match", "missing cacertfile"])
def test_bad_tls_files_exit_1(broker_factory, tls_certs, tmp_path, problem):
    kw = {}
    if problem == "missing certfile":
        kw["certfile"], expect = str(tmp_path / "nope.crt"), "cannot load certfile"
    elif problem == "missing keyfile":
        kw["keyfile"], expect = str(tmp_path / "nope.key"), "cannot load keyfile"
    elif problem == "key does not match":
        kw["keyfile"], expect = tls_certs.client_key, "mismatch"  # OpenSSL: "key values mismatch"
    else:
        kw["cacert"] = False
        expect = "cannot load cacertfile"
    s = listener_settings("ssl", "t", free_port(), tls_certs, **kw)
    if problem == "missing cacertfile":
        s["listeners.ssl.t.cacertfile"] = str(tmp_path / "nope-ca.crt")
    b = broker_factory(settings=s, start=False)
    rc, out, err = b.run_to_exit()
    assert rc == 1, out + err
    assert "listener ssl.t" in out + err and expect in out + err, out + err
