"""Fixtures for the tidemq black-box integration tests.

TIDEMQ_TEST_BROKER=tidemq (default) starts $TIDEMQ_BIN (default
<repo>/build/src/tidemq); TIDEMQ_TEST_BROKER=mosquitto runs the same tests
against /usr/sbin/mosquitto ($MOSQUITTO_BIN) to validate the tests
themselves.  Tests marked `tidemq_only` are skipped in mosquitto mode.
"""

import os
import shutil
import signal as _signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mqttraw  # noqa: E402
from certs import paho  # noqa: E402
from mqtthelpers import Client  # noqa: E402

REPO = HERE.parents[1]
MODE = os.environ.get("TIDEMQ_TEST_BROKER", "tidemq").strip().lower()
TIDEMQ_BIN = Path(os.environ.get("TIDEMQ_BIN", str(REPO / "build" / "src" / "tidemq")))
TIDEMQ_CONF = Path(os.environ.get("TIDEMQ_CONF", str(REPO / "conf" / "tidemq.conf")))
MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

if MODE not in ("tidemq", "mosquitto"):
    raise RuntimeError("TIDEMQ_TEST_BROKER must be 'tidemq' or 'mosquitto', not %r" % MODE)


def is_mosquitto():
    return MODE == "mosquitto"


# --- pytest plumbing ---------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "tidemq_only(reason): behaviour specific to tidemq (a documented tidemq decision, a "
        "tidemq config key, or something mosquitto 2.0.11 does differently); skipped when "
        "TIDEMQ_TEST_BROKER=mosquitto")


def pytest_collection_modifyitems(config, items):
    # TIDEMQ_TEST_RUN_TIDEMQ_ONLY=1 runs tidemq-only tests against mosquitto too,
    # to check that they fail there for the stated reason
    if not is_mosquitto() or os.environ.get("TIDEMQ_TEST_RUN_TIDEMQ_ONLY") == "1":
        return
    for item in items:
        m = item.get_closest_marker("tidemq_only")
        if m is not None:
            why = m.kwargs.get("reason") or (m.args[0] if m.args else "tidemq-specific")
            item.add_marker(pytest.mark.skip(reason="tidemq only: " + why))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


# --- the broker process ------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# tidemq key (under mqtt.) -> (mosquitto option, is per-listener, value mapper)
_MOSQUITTO_MAP = {
    "max_packet_size": ("max_packet_size", False, str),
    # tidemq's max_inflight is the server Receive Maximum; mosquitto advertises
    # max_inflight_messages as its Receive Maximum (and also uses it outbound)
    "max_inflight": ("max_inflight_messages", False, str),
    "max_mqueue_len": ("max_queued_messages", False, str),
    "max_keepalive": ("max_keepalive", False, str),
    "retain_available": ("retain_available", False, lambda v: "true" if v in (True, "true") else "false"),
    "max_topic_alias": ("max_topic_alias", True, str),
    "max_connections": ("max_connections", True, str),
    "max_qos_allowed": ("max_qos", True, str),
}


class BrokerStartError(RuntimeError):
    pass


_binary_copy = None


def tidemq_binary():
    """A private copy of $TIDEMQ_BIN, made once per test session, so that a
    rebuild relinking the binary during the run cannot break the run half way
    (exec of a file being written fails with ETXTBSY / EACCES)."""
    global _binary_copy
    if _binary_copy is None:
        if not TIDEMQ_BIN.exists():
            raise BrokerStartError(
                "tidemq binary not found at %s (build it, or set TIDEMQ_BIN, or run with "
                "TIDEMQ_TEST_BROKER=mosquitto)" % TIDEMQ_BIN)
        d = Path(tempfile.mkdtemp(prefix="tidemq-bin-"))
        dst = d / "tidemq"
        shutil.copy2(str(TIDEMQ_BIN), str(dst))
        _binary_copy = dst
    return _binary_copy


def pytest_unconfigure(config):
    if _binary_copy is not None:
        shutil.rmtree(str(_binary_copy.parent), ignore_errors=True)


class Broker:
    """One broker process on 127.0.0.1:<free port>.

    settings: dict of full dotted tidemq keys -> value (passed as --set).
    """

    host = "127.0.0.1"

    def __init__(self, workdir, settings=None, env=None, extra_args=None):
        self.kind = MODE
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.settings = dict(settings or {})
        self.env = env or {}
        self.extra_args = list(extra_args or [])
        self.port = None
        self.proc = None
        self.returncode = None
        self.config_file = TIDEMQ_CONF
        self.stdout_path = self.workdir / "stdout.log"
        self.stderr_path = self.workdir / "stderr.log"

    # command lines
    def _tidemq_cmd(self):
        binary = tidemq_binary()
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        base = {
            "listeners.tcp.default.bind": "%s:%d" % (self.host, self.port),
            "node.data_dir": str(data_dir),
            "node.io_threads": 2,
            "log.level": "info",
            # no admin listener unless a test asks for one: an extra port per broker could
            # collide with the port another test just picked
            "management.listener.http.bind": "",
        }
        # TIDEMQ_TEST_EXTRA_SET="log.level=debug a.b=c": extra --set for every broker
        for item in os.environ.get("TIDEMQ_TEST_EXTRA_SET", "").split():
            k, _, v = item.partition("=")
            base[k] = v
        base.update(self.settings)
        cmd = [str(binary), "--config", str(self.config_file)]
        for k, v in base.items():
            cmd += ["--set", "%s=%s" % (k, _toml_value(v))]
        return cmd + self.extra_args

    def _mosquitto_cmd(self):
        listener_lines, global_lines = [], []
        for key, value in self.settings.items():
            short = key[len("mqtt."):] if key.startswith("mqtt.") else None
            if short not in _MOSQUITTO_MAP:
                pytest.skip("mosquitto has no equivalent of tidemq setting %s" % key)
            opt, per_listener, conv = _MOSQUITTO_MAP[short]
            (listener_lines if per_listener else global_lines).append("%s %s" % (opt, conv(value)))
        conf = [
            "per_listener_settings false",
            "persistence false",
            "user root" if os.geteuid() == 0 else "",
            "log_dest file %s" % (self.workdir / "mosquitto.log"),
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
        ] + global_lines + [
            "listener %d %s" % (self.port, self.host),
            "allow_anonymous true",
        ] + listener_lines
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(conf) + "\n")
        return [MOSQUITTO_BIN, "-c", str(path)]

    def command(self):
        return self._mosquitto_cmd() if is_mosquitto() else self._tidemq_cmd()

    def environment(self):
        # every TIDEMQ_* variable is a config override for tidemq: never leak the
        # test harness's own (TIDEMQ_TEST_BROKER, TIDEMQ_BIN, ...) into the broker
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEMQ_")}
        env.update(self.env)
        return env

    def run_to_exit(self, timeout=10.0):
        """Run the broker expecting it to exit by itself (bad configuration);
        returns (exit code, stdout, stderr)."""
        self.port = self.port or free_port()
        r = subprocess.run(self.command(), stdin=subprocess.DEVNULL, capture_output=True,
                           env=self.environment(), cwd=str(self.workdir), timeout=timeout)
        self.returncode = r.returncode
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def start(self, timeout=START_TIMEOUT):
        self.port = free_port()
        cmd = self.command()
        env = self.environment()
        self.cmdline = cmd
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
            env=env, cwd=str(self.workdir))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise BrokerStartError("broker exited with %s during startup\ncmd: %s\n%s" % (
                    self.proc.returncode, " ".join(cmd), self.logs()))
            try:
                socket.create_connection((self.host, self.port), timeout=0.25).close()
                return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.kill()
                raise BrokerStartError("broker not listening on %d after %.0fs\n%s" % (
                    self.port, timeout, self.logs()))
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT, sig=_signal.SIGTERM):
        """Send SIGTERM (or sig) and wait for exit; returns the exit code.
        Raises AssertionError (after killing it) if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("broker did not exit within %.0fs of signal %s" % (timeout, sig))
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("broker still running after %.0fs" % timeout)
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def logs(self, limit=6000):
        out = []
        for p in (self.stdout_path, self.stderr_path, self.workdir / "mosquitto.log"):
            try:
                data = p.read_bytes().decode("utf-8", "replace")
            except OSError:
                data = ""
            if data or p != self.workdir / "mosquitto.log":
                out.append("--- %s ---\n%s" % (p.name, data[-limit:]))
        return "\n".join(out)

    def stderr(self):
        try:
            return self.stderr_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        try:
            return self.stdout_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""


def normalise_settings(overrides):
    """broker_factory(max_packet_size=10) -> {"mqtt.max_packet_size": 10};
    keys containing a dot (passed via settings=) are used as they are."""
    out = {}
    for k, v in overrides.items():
        out[k if "." in k else "mqtt." + k] = v
    return out


@pytest.fixture
def tmp_workdir():
    d = tempfile.mkdtemp(prefix="tidemq-it-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def broker_factory(request, tmp_workdir):
    """broker_factory(**mqtt_overrides, settings=None, env=None, extra_args=None)
    starts a broker with `--set mqtt.<key>=<value>` for every keyword."""
    started = []

    def make(settings=None, env=None, extra_args=None, start=True, **overrides):
        s = normalise_settings(overrides)
        s.update(settings or {})
        b = Broker(tmp_workdir / ("broker%d" % len(started)), s, env, extra_args)
        started.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in started:
        failed = _failed(request)
        b.kill()
        if failed:
            sys.stderr.write("\n=== broker logs (%s, port %s) ===\n%s\n" % (b.kind, b.port, b.logs()))


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


# --- clients -----------------------------------------------------------------

@pytest.fixture
def make_client():
    """make_client(broker, client_id="", version=5, clean=True, connect=True, **kw)
    -> mqtthelpers.Client, connected (CONNACK 0 asserted unless expect_rc given)."""
    made = []

    def make(broker, client_id="", version=5, connect=True, expect_rc=0, timeout=5.0, **kw):
        c = Client(broker, client_id=client_id, version=version, **kw)
        made.append(c)
        if connect:
            c.connect(timeout=timeout, expect_rc=expect_rc)
        return c

    yield make
    close_all_quietly(made)


def close_all_quietly(clients):
    """Fixture teardown: close every client made, even if closing one of them fails."""
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def paho_clients():
    """paho_clients(port, version=5, transport="tcp", ...) -> certs.paho(...), closed at
    teardown: paho clients over TLS / WebSocket listeners (test_tls.py, test_ws.py)."""
    made = []

    def make(*a, **kw):
        c = paho(*a, **kw)
        made.append(c)
        return c

    yield make
    close_all_quietly(made)


@pytest.fixture
def cli_procs():
    """A list to append mqtthelpers.MosquittoSub processes to; each is closed at teardown."""
    procs = []
    yield procs
    for p in procs:
        p.close()


@pytest.fixture
def make_raw():
    """make_raw(broker, version=5, client_id=None, **connect_kw) -> mqttraw.RawClient.
    With client_id given (a string) it also sends CONNECT and asserts CONNACK rc 0;
    the CONNACK is kept in .connack."""
    made = []

    def make(broker, version=5, client_id=None, rcvbuf=None, expect_rc=0, **connect_kw):
        c = mqttraw.RawClient(broker.host, broker.port, version=version, rcvbuf=rcvbuf)
        made.append(c)
        c.connack = None
        if client_id is not None:
            c.connack = c.connect(client_id, **connect_kw)
            if expect_rc is not None:
                assert c.connack.rc == expect_rc, c.connack
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def uid(request):
    """A short unique token for client ids and topics of one test."""
    return "%s-%s" % (request.node.name[:24].replace("[", "-").replace("]", ""), uuid.uuid4().hex[:6])
