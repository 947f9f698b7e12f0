"""Helpers shared by the admin API, metrics and tidemq_ctl tests."""

import collections
import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
CTL_BIN = Path(os.environ.get("TIDEMQ_CTL_BIN", str(REPO / "build" / "tools" / "ctl" / "tidemq_ctl")))


def wait_admin_listening(b, port, timeout=5.0):
    """True once the node accepts on its admin port; False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not b.alive():
            return False
        try:
            socket.create_connection((b.host, port), timeout=0.25).close()
            return True
        except OSError:
            time.sleep(0.02)
    raise AssertionError("admin API not listening on %d after %.0fs\n%s" % (port, timeout, b.logs()))


def start_with_admin_api(broker_factory, settings=None, **kw):
    """Start a broker (broker_factory(settings=..., **kw)) with its admin API on a free port,
    trying another port when that one was taken meanwhile; returns (broker, admin port, the
    settings used).  The one start-up test_admin_api.py, test_metrics.py and test_ctl.py wrap."""
    for attempt in range(3):
        port = free_port()
        s = {"management.listener.http.bind": "127.0.0.1:%d" % port}
        s.update(settings or {})
        b = broker_factory(settings=s, start=False, **kw)
        try:
            b.start()
            up = wait_admin_listening(b, port)
        except RuntimeError as e:  # conftest.BrokerStartError
            up, logs = False, str(e)
        else:
            logs = "" if up else b.logs()
        if up:
            return b, port, s
        if "admin API: cannot listen" in logs and attempt < 2:  # the free port was taken meanwhile
            continue
        raise AssertionError("node did not start:\n" + logs)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def ctl_bin():
    """A private copy of $TIDEMQ_CTL_BIN, made once per module (like conftest.tidemq_binary), so that a rebuild
    relinking tidemq_ctl cannot break a run half way; skips when it is not built."""
    if not CTL_BIN.exists():
        pytest.skip("tidemq_ctl not built at %s (ninja -C build tidemq_ctl, or set TIDEMQ_CTL_BIN)" % CTL_BIN)
    d = Path(tempfile.mkdtemp(prefix="tidemq-ctl-bin-"))
    dst = d / "tidemq_ctl"
    shutil.copy2(str(CTL_BIN), str(dst))
    yield dst
    shutil.rmtree(str(d), ignore_errors=True)


Request = collections.namedtuple("Request", "method path headers body")


class FakeAdminApi:
    """A stand-in for a node's admin HTTP API, so that tidemq_ctl's requests and its
    printing of canned replies can be checked without a broker (test_cluster_ctl.py,
    test_rebalance_ctl.py).

    An HTTP server on 127.0.0.1 answering canned JSON: answers[(method, path)] =
    (status, document), or a list of them answered in turn (the last one repeats).
    Paths are matched percent-decoded; everything else is the router's 404.
    Requests are recorded as Request(method, raw path, headers, decoded JSON body or None)."""

    def __init__(self):
        self.answers = {}
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                key = (self.command, urllib.parse.unquote(self.path))
                with fake.lock:
                    fake.requests.append(Request(self.command, self.path, dict(self.headers), body))
                    answer = fake.answers.get(key, (404, {"code": 404, "message": "not found"}))
                    if isinstance(answer, list):
                        answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, doc = answer
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def flags(self):
        """tidemq_ctl's connection options naming this fake node."""
        return ["--url", self.url, "--user", "admin", "--password", "public"]

    @property
    def env(self):
        """The same as `flags`, as tidemq_ctl's TIDEMQ_CTL_* environment."""
        return {"TIDEMQ_CTL_URL": self.url, "TIDEMQ_CTL_USER": "admin", "TIDEMQ_CTL_PASSWORD": "public"}

    def members(self, running, stopped=()):
        """GET /api/v4/cluster answers with these running and stopped nodes."""
        self.answers[("GET", "/api/v4/cluster")] = (
            200, {"code": 0, "data": {"running_nodes": list(running), "stopped_nodes": list(stopped)}})

    def posts(self):
        """(path, body) of every POST received, in order."""
        return [(r.path, r.body) for r in self.requests if r.method == "POST"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
