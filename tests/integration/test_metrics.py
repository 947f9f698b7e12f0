"""GET /metrics: Prometheus text exposition, parsed by the real parser
(Debian python3-prometheus-client), values that follow what real clients do,
and its authentication (management.metrics_auth)."""

import base64
import http.client
import time

import pytest

from adminhelpers import start_with_admin_api  # noqa: E402

import mqttraw
from mqtthelpers import wait_for

prometheus_parser = pytest.importorskip(
    "prometheus_client.parser", reason="needs python3-prometheus-client (Debian package)")

pytestmark = pytest.mark.tidemq_only(reason="the admin HTTP API is tidemq's own")

# family name (as the parser reports it: counters without _total) -> type
FAMILIES = {
    "tidemq_connections": "gauge",
    "tidemq_sessions": "gauge",
    "tidemq_subscriptions": "gauge",
    "tidemq_topics": "gauge",
    "tidemq_retained_messages": "gauge",
    "tidemq_messages_received": "counter",
    "tidemq_messages_sent": "counter",
    "tidemq_messages_dropped": "counter",
    "tidemq_bytes_received": "counter",
    "tidemq_bytes_sent": "counter",
    "tidemq_connections_refused": "counter",
    "tidemq_auth_failures": "counter",
    "tidemq_protocol_errors": "counter",
    "tidemq_uptime_seconds": "gauge",
    "tidemq_process_resident_memory_bytes": "gauge",
    "tidemq_process_open_fds": "gauge",
    "tidemq_listener_connections": "gauge",
    "tidemq_listener_accepted": "counter",
    "tidemq_listener_refused": "counter",
    "tidemq_listener_accept_paused": "counter",
    "tidemq_admin_connections": "gauge",
    "tidemq_admin_connections_refused": "counter",
    # the rebalance plugin
    "tidemq_rebalance_state": "gauge",
    "tidemq_rebalance_connections_evicted": "counter",
    "tidemq_rebalance_sessions_migrated": "counter",
    "tidemq_rebalance_sessions_migration_failed": "counter",
    "tidemq_rebalance_connections_remaining": "gauge",
    "tidemq_rebalance_sessions_remaining": "gauge",
    "tidemq_rebalance_eta_seconds": "gauge",
    "tidemq_rebalance_messages_lost": "counter",
    "tidemq_rebalance_migration_audit_mismatches": "counter",
}


def http_get(port, path, auth=("admin", "public")):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, r.headers, r.read().decode("utf-8")
    finally:
        c.close()


class Metrics:
    """One scrape: families by name, and sample values by (sample name, labels)."""

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.samples = {}
        for fam in prometheus_parser.text_string_to_metric_families(text):
            assert fam.name not in self.families, "family %s exposed twice" % fam.name
            self.families[fam.name] = fam
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in self.samples, "sample %r exposed twice" % (key,)
                self.samples[key] = s.value

    def __call__(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        assert key in self.samples, "no sample %s%r in:\n%s" % (name, labels, self.text)
        return self.samples[key]


def start_node(broker_factory, settings=None):
    b, port, _ = start_with_admin_api(broker_factory, settings)
    b.admin_port = port
    return b


@pytest.fixture
def node(broker_factory):
    return start_node(broker_factory)


def scrape(b):
    status, headers, text = http_get(b.admin_port, "/metrics")
    assert status == 200, text
    return Metrics(text)


def test_exposition_is_valid_and_complete(node):
    status, headers, text = http_get(node.admin_port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    m = Metrics(text)
    for name, typ in FAMILIES.items():
        assert name in m.families, "missing family %s" % name
        assert m.families[name].type == typ, (name, m.families[name].type)
        assert m.families[name].documentation, "family %s has no HELP" % name
    assert set(m.families) == set(FAMILIES), "unexpected families: %s" % (set(m.families) - set(FAMILIES))
    for q in ("0", "1", "2"):
        assert m("tidemq_messages_received_total", qos=q) == 0
        assert m("tidemq_messages_sent_total", qos=q) == 0
    for reason in ("queue_full", "too_large", "no_subscribers", "expired", "not_authorized"):
        assert m("tidemq_messages_dropped_total", reason=reason) == 0
    assert m("tidemq_connections") == 0
    assert m("tidemq_sessions", state="connected") == 0
    assert m("tidemq_sessions", state="disconnected") == 0
    # Prometheus naming: counters end in _total, units in the name
    for fam in m.families.values():
        for s in fam.samples:
            assert s.name.startswith("tidemq_")
            if fam.type == "counter":
                assert s.name.endswith("_total"), s.name


def test_process_metrics(node, make_raw, uid):
    m = scrape(node)
    rss = m("tidemq_process_resident_memory_bytes")
    fds = m("tidemq_process_open_fds")
    assert rss > 1 << 20, rss  # more than 1 MiB
    assert fds > 0
    assert 0 < m("tidemq_uptime_seconds") < 60
    clients = [make_raw(node, client_id="fd%d-%s" % (i, uid)) for i in range(5)]
    # 5 more sockets are 5 more descriptors
    wait_for(lambda: scrape(node)("tidemq_process_open_fds") >= fds + 5, message="open fds did not grow")
    for c in clients:
        c.disconnect()
    wait_for(lambda: scrape(node)("tidemq_process_open_fds") <= fds + 1, message="open fds did not shrink")


def test_connection_and_session_gauges(node, make_client, make_raw, uid):
    c1 = make_client(node, client_id="g1-" + uid)
    make_client(node, client_id="g2-" + uid, version=4)
    raw = make_raw(node, client_id="g3-" + uid, props={"SessionExpiryInterval": 300})
    raw.subscribe("g/#", qos=1)
    c1.subscribe([("g/a", 0), ("g/#", 1)])
    m = scrape(node)
    assert m("tidemq_connections") == 3
    assert m("tidemq_sessions", state="connected") == 3
    assert m("tidemq_sessions", state="disconnected") == 0
    assert m("tidemq_subscriptions") == 3
    assert m("tidemq_topics") == 2
    raw.disconnect()
    c1.disconnect()
    wait_for(lambda: scrape(node)("tidemq_connections") == 1)
    m = scrape(node)
    assert m("tidemq_sessions", state="connected") == 1
    assert m("tidemq_sessions", state="disconnected") == 1  # g3 persists for 300 s
    assert m("tidemq_subscriptions") == 1
    assert m("tidemq_topics") == 1


def test_message_counters_move(node, make_client, uid):
    before = scrape(node)
    sub = make_client(node, client_id="ms-" + uid)
    sub.subscribe("mc/" + uid, qos=1)
    pub = make_client(node, client_id="mp-" + uid)
    for i in range(5):
        pub.publish("mc/" + uid, b"q1-%d" % i, qos=1)
    for i in range(2):
        pub.publish("mc/" + uid, b"q0-%d" % i, qos=0)
    for i in range(3):
        pub.publish("mc/" + uid, b"q2-%d" % i, qos=2)
    sub.messages.get_n(10)
    pub.publish("nobody/listens/" + uid, b"x", qos=1)
    pub.publish("mc/" + uid, b"retained", qos=1, retain=True)
    sub.messages.get()

    def moved():
        m = scrape(node)
        return m if m("tidemq_messages_sent_total", qos="1") - before("tidemq_messages_sent_total", qos="1") >= 9 else None

    after = wait_for(moved, message="sent counters did not move")
    d = lambda name, **labels: after(name, **labels) - before(name, **labels)  # noqa: E731
    assert d("tidemq_messages_received_total", qos="1") == 7  # 5 + no-subscriber + retained
    assert d("tidemq_messages_received_total", qos="0") == 2
    assert d("tidemq_messages_received_total", qos="2") == 3
    # delivered at min(publish QoS, subscription QoS 1)
    assert d("tidemq_messages_sent_total", qos="0") == 2
    assert d("tidemq_messages_sent_total", qos="1") == 9
    assert d("tidemq_messages_sent_total", qos="2") == 0
    assert d("tidemq_messages_dropped_total", reason="no_subscribers") >= 1
    assert d("tidemq_bytes_received_total") > 11 * 10
    assert d("tidemq_bytes_sent_total") > 10 * 10
    assert after("tidemq_retained_messages") == 1


def test_error_counters_move(node, make_raw, uid):
    before = scrape(node)
    # a CONNECT with an unsupported protocol level is refused with a CONNACK
    raw = make_raw(node, version=5)
    raw.send(mqttraw.connect_packet("bad-" + uid, version=5, proto_level=9))
    raw.wait_closed()
    # garbage after CONNECT is a protocol error
    bad = make_raw(node, client_id="garbage-" + uid)
    bad.send(b"\x00\x00\x00\x00")
    bad.wait_closed()

    def moved():
        m = scrape(node)
        return m if (m("tidemq_connections_refused_total") > before("tidemq_connections_refused_total") and
                     m("tidemq_protocol_errors_total") > before("tidemq_protocol_errors_total")) else None

    wait_for(moved, message="refused / protocol error counters did not move")


def test_messages_dropped_queue_full(broker_factory, make_client, make_raw, uid):
    b = start_node(broker_factory, {"mqtt.max_mqueue_len": 3})
    raw = make_raw(b, client_id="qf-" + uid, props={"SessionExpiryInterval": 300})
    raw.subscribe("qf/" + uid, qos=1)
    raw.disconnect()
    pub = make_client(b, client_id="qfp-" + uid)
    wait_for(lambda: scrape(b)("tidemq_sessions", state="disconnected") == 1)
    for i in range(5):
        pub.publish("qf/" + uid, b"%d" % i, qos=1)
    wait_for(lambda: scrape(b)("tidemq_messages_dropped_total", reason="queue_full") == 2,
             message="queue_full drops not counted")


def test_metrics_need_credentials_by_default(node):
    status, headers, body = http_get(node.admin_port, "/metrics", auth=None)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="tidemq"'
    status, _, _ = http_get(node.admin_port, "/metrics", auth=("admin", "wrong"))
    assert status == 401


def test_metrics_auth_can_be_disabled(broker_factory):
    b = start_node(broker_factory, {"management.metrics_auth": False})
    status, _, text = http_get(b.admin_port, "/metrics", auth=None)
    assert status == 200
    assert "tidemq_connections" in Metrics(text).families
    # any credentials, even wrong ones, are ignored there
    assert http_get(b.admin_port, "/metrics", auth=("admin", "wrong"))[0] == 200
    # the rest of the API still needs them
    status, headers, _ = http_get(b.admin_port, "/api/v4/nodes", auth=None)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="tidemq"'
    assert http_get(b.admin_port, "/api/v4/nodes")[0] == 200
