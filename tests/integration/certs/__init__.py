"""Test certificates, made with the `openssl` CLI into a temporary directory
(nothing here is committed but this generator).

    ca.crt / ca.key                  the test CA
    server.crt / server.key          signed by the CA; SAN IP:127.0.0.1, DNS:localhost
    client.crt / client.key          signed by the CA (CN=tidemq-test-client), clientAuth
    other-ca.crt / other-ca.key      an unrelated CA
    other-client.crt / .key          a client certificate signed by the other CA
    other-server.crt / .key          a server certificate (SAN 127.0.0.1) signed by the other CA
    node.crt / node.key              a cluster node certificate (serverAuth + clientAuth), test CA
    other-node.crt / .key            the same, signed by the other CA

`make_certs(directory)` returns a Certs with the paths; test modules get the
session-scoped `tls_certs` fixture (and `processes`) from certs/fixtures.py with
`pytest_plugins = ["certs.fixtures"]`.

Also here, shared by test_tls.py and test_ws.py: starting a broker with TLS /
WebSocket listeners on free ports, paho clients over another transport, a
client TLS context, and a deadline-bounded line reader for subprocess output.
"""

import queue
import shutil
import ssl
import subprocess
import threading
import time
import types
from pathlib import Path

import paho.mqtt.client as mqtt

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DAYS = "30"


class Certs:
    def __init__(self, d):
        d = Path(d)
        self.dir = d
        for name in ("ca", "server", "client", "other-ca", "other-client", "other-server", "node", "other-node"):
            setattr(self, name.replace("-", "_") + "_crt", str(d / (name + ".crt")))
            setattr(self, name.replace("-", "_") + "_key", str(d / (name + ".key")))


def _run(args, cwd):
    r = subprocess.run([OPENSSL] + args, cwd=str(cwd), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s" % (
            " ".join(args), r.returncode, r.stderr.decode("utf-8", "replace")))


def _ca(d, name, cn):
    _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", name + ".key", "-out", name + ".crt", "-days", DAYS, "-subj", "/CN=" + cn,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)


def _leaf(d, name, ca, cn, ext_lines):
    _run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
    (Path(d) / (name + ".ext")).write_text("\n".join(ext_lines) + "\n")
    _run(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
          "-CAcreateserial", "-out", name + ".crt", "-days", DAYS, "-sha256",
          "-extfile", name + ".ext"], d)


SERVER_EXT = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
              "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
NODE_EXT = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
CLIENT_EXT = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
              "extendedKeyUsage=clientAuth"]


def make_certs(d):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    _ca(d, "ca", "tidemq test CA")
    _leaf(d, "server", "ca", "localhost", SERVER_EXT)
    _leaf(d, "client", "ca", "tidemq-test-client", CLIENT_EXT)
    _ca(d, "other-ca", "unrelated test CA")
    _leaf(d, "other-client", "other-ca", "intruder", CLIENT_EXT)
    _leaf(d, "other-server", "other-ca", "localhost", SERVER_EXT)
    # cluster links: each node is TLS server and client, so its certificate allows both
    _leaf(d, "node", "ca", "tidemq-node", NODE_EXT)
    _leaf(d, "other-node", "other-ca", "tidemq-intruder-node", NODE_EXT)
    return Certs(d)




# --- brokers with TLS / WebSocket listeners ------------------------------------

def listener_settings(kind, name, port, certs=None, path=None, verify=None, fail_if_no_peer_cert=None,
                      cacert=True, certfile=None, keyfile=None):
    """--set keys for listeners.<kind>.<name> (kind: ssl | ws | wss) on 127.0.0.1:port."""
    base = "listeners.%s.%s." % (kind, name)
    s = {base + "bind": "127.0.0.1:%d" % port}
    if path is not None:
        s[base + "path"] = '"%s"' % path
    if kind in ("ssl", "wss"):
        s[base + "certfile"] = certfile or certs.server_crt
        s[base + "keyfile"] = keyfile or certs.server_key
        if cacert:
            s[base + "cacertfile"] = certs.ca_crt
        if verify is not None:
            s[base + "verify"] = verify
        if fail_if_no_peer_cert is not None:
            s[base + "fail_if_no_peer_cert"] = fail_if_no_peer_cert
    return s


def wait_running(broker, timeout=10.0):
    """Every listener is open once the node logs that it is running."""
    deadline = time.monotonic() + timeout
    while "running with" not in broker.stdout():
        if not broker.alive():
            raise AssertionError("broker exited during startup:\n" + broker.logs())
        if time.monotonic() >= deadline:
            raise AssertionError("broker not running after %.0fs:\n%s" % (timeout, broker.logs()))
        time.sleep(0.02)
    return broker


def at(port):
    """Something with .host and .port, for clients that take a broker."""
    return types.SimpleNamespace(host="127.0.0.1", port=port)


def client_tls_context(certs, ca=None, cert=None, key=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or certs.ca_crt)
    if cert:
        ctx.load_cert_chain(cert, key)
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def paho(port, version=5, transport="tcp", ws_path="/mqtt", ca=None, cert=None, key=None, client_id=""):
    """A mqtthelpers.Client (not connected) whose paho client uses `transport`
    ("tcp" | "websockets") and TLS when `ca` is given."""
    from mqtthelpers import Client
    c = Client(at(port), client_id=client_id, version=version)
    kw = dict(client_id=client_id, transport=transport, reconnect_on_failure=False)
    if version == 5:
        p = mqtt.Client(protocol=mqtt.MQTTv5, **kw)
    else:
        p = mqtt.Client(clean_session=True, protocol=mqtt.MQTTv311, **kw)
    for cb in ("on_connect", "on_disconnect", "on_message", "on_publish", "on_subscribe", "on_unsubscribe"):
        setattr(p, cb, getattr(c.c, cb))
    if transport == "websockets":
        p.ws_set_options(path=ws_path)
    if ca:
        p.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    c.c = p
    return c


# --- subprocess output with deadlines --------------------------------------------

class LineReader:
    """Reads a process's stdout lines on a thread; wait_line() has a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            self.q.put(line)
        self.q.put(None)

    def wait_line(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching output line within %.1fs; got %r" % (timeout, self.lines))
            try:
                line = self.q.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("process ended without a matching line; got %r" % (self.lines,))
            if pred(line):
                return line

    def text(self):
        self.t.join(5)
        return "\n".join(self.lines)


class Processes:
    """Started subprocesses, all killed at teardown."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
