"""Node evacuation (docs/rebalance.md, "Evacuation states") on a real 3-node cluster: the
evacuated node refuses new CONNECTs (MQTT 5: CONNACK 0x9C + Server Reference; 3.1.1: return code
3), disconnects its clients (MQTT 5: DISCONNECT 0x9C + Server Reference; 3.1.1: a
close), migrates the sessions that are left to the `migrate_to` nodes with their
queued messages, reports 503 on availability_check while it runs, stays evacuated
across kill -9 and restart, and undoes all of that on stop."""

import pytest

import mqttraw
from clusterhelpers import cluster, poll, pytestmark_cluster, wait_client_node, wait_route  # noqa: F401
from mqttraw import CONNACK, DISCONNECT, PUBLISH

pytestmark = pytestmark_cluster

PERSIST = {"SessionExpiryInterval": 300}
REDIRECT = "127.0.0.2:1883"


def availability(node):
    status, _ = node.api("GET", "/api/v4/load_rebalance/availability_check")
    return status


def start_evacuation(via, node, **opts):
    body = {"conn_evict_rate": 100, "sess_evict_rate": 100, "wait_takeover": 1, "redirect_to": REDIRECT}
    body.update(opts)
    return via.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % node.name, body)


def metric_values(node):
    from prometheus_client.parser import text_string_to_metric_families
    status, text = node.api("GET", "/metrics")
    assert status == 200
    out = {}
    for fam in text_string_to_metric_families(text.decode() if isinstance(text, bytes) else text):
        for s in fam.samples:
            labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            out[s.name + ("{%s}" % labels if labels else "")] = s.value
    return out


def local_status(node):
    status, body = node.api("GET", "/api/v4/load_rebalance/status")
    assert status == 200, body
    return body


def test_evacuation_redirects_evicts_and_migrates(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    # on node 1: a live MQTT 5 client, a live 3.1.1 client, and an offline session with queued messages
    v5 = mqttraw.RawClient(n1.host, n1.port)
    assert v5.connect("ev-v5", clean=False, props=dict(PERSIST)).rc == 0
    v3 = mqttraw.RawClient(n1.host, n1.port, version=4)
    assert v3.connect("ev-v3", version=4).rc == 0
    off = mqttraw.RawClient(n1.host, n1.port)
    off.connect("ev-offline", clean=False, props=dict(PERSIST))
    off.subscribe([("ev/t", 1)])
    off.disconnect()
    off.close()
    wait_route(n3, "ev/t", n1)
    pub = mqttraw.RawClient(n3.host, n3.port)
    pub.connect("ev-pub")
    for i in range(5):
        pub.publish_acked("ev/t", b"q%d" % i)
    assert availability(n1) == 200

    status, body = start_evacuation(n3, n1, migrate_to=[n2.name])  # forwarded to node 1
    assert (status, body) == (200, {"code": 0, "data": []}), body

    d = v5.expect(DISCONNECT, timeout=5)
    assert d.rc == 0x9C and d.props.get("ServerReference") == REDIRECT, d
    assert v3.wait_closed(timeout=5) == []  # 3.1.1: a plain close, no packet
    assert availability(n1) == 503
    assert availability(n2) == 200

    # new connections are refused with a redirect
    late = mqttraw.RawClient(n1.host, n1.port)
    ack = late.connect("ev-late")
    assert ack.rc == 0x9C and ack.props.get("ServerReference") == REDIRECT, ack
    late.close()
    late3 = mqttraw.RawClient(n1.host, n1.port, version=4)
    assert late3.connect("ev-late3", version=4).rc == 3
    late3.close()

    # the offline session moves to node 2 with its queue
    wait_client_node(n3, "ev-offline", n2.name, timeout=15)
    body = poll(lambda: (lambda b: (b.get("state") == "prohibiting", b))(local_status(n1)), 20.0,
                "evacuation of node 1 reaches prohibiting")
    assert body["status"] == "enabled" and body["process"] == "evacuation", body
    assert body["session_recipients"] == [n2.name], body
    sub = mqttraw.RawClient(n2.host, n2.port)
    ack = sub.connect("ev-offline", clean=False, props=dict(PERSIST))
    assert ack.rc == 0 and ack.session_present, ack
    got = []
    while len(got) < 5:
        p = sub.expect(PUBLISH, timeout=5)
        sub.puback(p.pid)
        got.append(p.payload)
    assert got == [b"q%d" % i for i in range(5)]
    sub.close()

    metrics = metric_values(n1)
    assert metrics['tidemq_rebalance_state{process="evacuation",state="prohibiting"}'] == 1
    assert metrics["tidemq_rebalance_sessions_migrated_total"] >= 1
    assert metrics["tidemq_rebalance_connections_evicted_total"] >= 2
    assert metrics["tidemq_rebalance_messages_lost_total"] == 0

    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert (status, body) == (200, {"code": 0, "data": []}), body
    assert availability(n1) == 200
    assert local_status(n1) == {"status": "disabled"}
    ok = mqttraw.RawClient(n1.host, n1.port)
    assert ok.connect("ev-after").rc == 0
    ok.close()
    pub.close()


def test_evacuation_survives_kill_9(cluster):
    c = cluster(2)
    n1 = c[1]
    status, body = start_evacuation(n1, n1, wait_takeover=60)
    assert body == {"code": 0, "data": []}, body
    n1.kill9()
    n1.start()
    # refused from the very first connection after the restart
    first = mqttraw.RawClient(n1.host, n1.port)
    ack = first.connect("ev-first")
    assert ack.rc == 0x9C and ack.props.get("ServerReference") == REDIRECT, ack
    first.close()
    assert availability(n1) == 503
    assert local_status(n1)["process"] == "evacuation"
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert body == {"code": 0, "data": []}, body
    assert availability(n1) == 200


def test_evacuation_errors(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert (status, body["code"]) == (200, 400) and body["message"] == "not_started", body
    status, body = n1.api("POST", "/api/v4/load_rebalance/ghost@127.0.0.9/evacuation/start", {})
    assert (status, body) == (200, {"code": 400, "message": "invalid node: ghost@127.0.0.9"}), body
    status, body = start_evacuation(n1, n1, conn_evict_rate=0)
    assert (status, body["code"]) == (200, 400), body
    status, body = start_evacuation(n1, n1)
    assert body == {"code": 0, "data": []}, body
    status, body = start_evacuation(n1, n1)
    assert (status, body["code"], body["message"]) == (200, 400, "already_started"), body
    status, _ = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert status == 200


def test_v5_conventions(cluster):
    c = cluster(2)
    n1 = c[1]
    base = "/api/v5/load_rebalance/%s/evacuation" % n1.name
    status, body = n1.api("POST", base + "/stop", {})
    assert (status, body) == (400, {"code": "BAD_REQUEST", "message": "error on node '%s': not_started" % n1.name}), body
    status, body = n1.api("POST", "/api/v5/load_rebalance/ghost@127.0.0.9/evacuation/start", {})
    assert (status, body) == (404, {"code": "NOT_FOUND", "message": "Node not found: ghost@127.0.0.9"}), body
    status, body = n1.api("POST", base + "/start", {"conn_evict_rate": 0})
    assert status == 400 and body["code"] == "BAD_REQUEST", body
    status, body = n1.api("POST", base + "/start", {"conn_evict_rate": 10})
    assert (status, body) == (200, {}), body
    status, body = n1.api("GET", "/api/v5/load_rebalance/availability_check")
    assert (status, body) == (503, {"code": "NODE_EVACUATING", "message": "Node Evacuating"}), body
    status, body = n1.api("GET", "/api/v5/load_rebalance/global_status")
    assert status == 200 and body["purges"] == [] and [e["node"] for e in body["evacuations"]] == [n1.name], body
    status, body = n1.api("POST", base + "/stop", {})
    assert (status, body) == (200, {}), body


def test_v5_error_bodies(cluster):
    """Every v5 error (docs/rebalance.md, "v5 replies and errors") with its status, code and
    message, in the order schema → path node → node list → RPC."""
    c = cluster(2)
    n1, n2 = c[1], c[2]
    evac = "/api/v5/load_rebalance/%s/evacuation/start" % n1.name
    start = "/api/v5/load_rebalance/%s/start" % n1.name
    bad = lambda message: (400, {"code": "BAD_REQUEST", "message": message})  # noqa: E731
    # schema: empty or non-list node lists are schema errors, not "unavailable"
    assert n1.api("POST", evac, {"migrate_to": []}) == bad("migrate_to: expected a non-empty list of node names")
    assert n1.api("POST", evac, {"nodes": []}) == bad("nodes: expected a non-empty list of node names")
    assert n1.api("POST", start, {"nodes": []}) == bad("nodes: expected a non-empty list of node names")
    assert n1.api("POST", start, {"nodes": "x"}) == bad("nodes: expected a non-empty list of node names")
    assert n1.api("POST", start, {"rel_conn_threshold": 1.0}) == bad("invalid rel_conn_threshold value")
    assert n1.api("POST", start, {"what": 1}) == bad('Unknown rebalance param: {<<"what">>,1}')
    # schema before the path node: a bad body for a node that does not exist is still a 400
    ghost = "/api/v5/load_rebalance/ghost@127.0.0.9/start"
    assert n1.api("POST", ghost, {"nodes": []}) == bad("nodes: expected a non-empty list of node names")
    assert n1.api("POST", ghost, {"nodes": ["ghost@127.0.0.9"]}) == (
        404, {"code": "NOT_FOUND", "message": "Node not found: ghost@127.0.0.9"})
    # node lists: unknown names, then known but unavailable ones
    assert n1.api("POST", start, {"nodes": [n1.name, "x@h"]}) == bad('Invalid nodes: [<<"x@h">>]')
    assert n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n2.name, {"conn_evict_rate": 5}) == (
        200, {"code": 0, "data": []})
    assert n1.api("POST", start, {"nodes": [n1.name, n2.name]}) == (
        400, {"code": "NOT_FOUND", "message": "Nodes unavailable: ['%s']" % n2.name})
    assert n1.api("POST", evac, {"migrate_to": [n2.name]}) == (
        400, {"code": "NOT_FOUND", "message": "Nodes unavailable: ['%s']" % n2.name})
    # the node's own refusal
    assert n1.api("POST", "/api/v5/load_rebalance/%s/evacuation/start" % n2.name, {}) == bad(
        "error on node '%s': already_started" % n2.name)
    assert n1.api("POST", "/api/v5/load_rebalance/%s/stop" % n1.name, {}) == bad(
        "error on node '%s': not_started" % n1.name)
    assert n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n2.name, {})[0] == 200


def test_v4_malformed_body_and_auth(cluster):
    import http.client
    c = cluster(1, seeds=False)
    n1 = c[1]
    conn = http.client.HTTPConnection(n1.host, n1.admin_port, timeout=5)
    conn.request("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name, body="{not json",
                 headers={"Authorization": "Basic YWRtaW46cHVibGlj", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert (r.status, r.read()) == (400, b"Bad Request")
    conn.request("GET", "/api/v4/load_rebalance/status")
    r = conn.getresponse()
    r.read()
    assert r.status == 401
    conn.request("GET", "/api/v4/load_rebalance/availability_check", headers={"Authorization": "Basic bm86bm8="})
    r = conn.getresponse()
    r.read()
    assert r.status == 200  # public: a wrong Authorization header is ignored
    conn.close()


def test_least_loaded_redirect(cluster):
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    busy = [mqttraw.RawClient(n2.host, n2.port) for _ in range(6)]
    for i, b in enumerate(busy):
        b.connect("ll-busy-%d" % i)
    movers = [mqttraw.RawClient(n1.host, n1.port) for _ in range(4)]
    for i, m in enumerate(movers):
        m.connect("ll-mover-%d" % i)
    status, body = start_evacuation(n1, n1, redirect_policy="least_loaded", conn_evict_rate=20)
    assert body == {"code": 0, "data": []}, body
    refs = [m.expect(DISCONNECT, timeout=5).props.get("ServerReference") for m in movers]
    # node 3 has no connections, node 2 has six: all four go to node 3's MQTT listener
    assert refs == ["%s:%d" % (n3.host, n3.port)] * 4, refs
    status, body = start_evacuation(n1, n1, redirect_policy="busiest")
    assert body["code"] == 400 and "redirect_policy" in body["message"], body
    n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    for x in busy + movers:
        x.close()


def make_offline_sessions(node, prefix, count, topic=None):
    """`count` offline persistent sessions on `node`, each subscribed at QoS 1 to `topic`
    (or to its own topic <prefix>/<i> when topic is None)."""
    for i in range(count):
        cl = mqttraw.RawClient(node.host, node.port)
        assert cl.connect("%s-%03d" % (prefix, i), clean=False, props=dict(PERSIST)).rc == 0
        cl.subscribe([(topic or "%s/%d" % (prefix, i), 1)])
        cl.disconnect()


def session_count(node):
    return node.data("/api/v4/stats")[0]["sessions.count"]


def test_evacuation_migrates_sessions_at_the_configured_rate(cluster):
    """sess_evict_rate is per second: 60 sessions at 20/s take about 3 s. (It once took one
    limiter burst, 1/20 of the rate, per 1 s tick: a minute for these 60.)"""
    c = cluster(2)
    n1, n2 = c[1], c[2]
    make_offline_sessions(n1, "rate", 60)
    status, body = start_evacuation(n1, n1, sess_evict_rate=20, migrate_to=[n2.name])
    assert body == {"code": 0, "data": []}, body
    poll(lambda: (lambda b: (b.get("state") == "prohibiting", b))(local_status(n1)), 20.0,
         "60 sessions at 20/s: the evacuation reaches prohibiting")
    assert (session_count(n1), session_count(n2)) == (0, 60)
    assert metric_values(n1)["tidemq_rebalance_sessions_migrated_total"] == 60
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert body == {"code": 0, "data": []}, body


def recipients(node):
    """session_recipients in node's status and in its global_status entry (they must agree)."""
    local = local_status(node)["session_recipients"]
    status, body = node.api("GET", "/api/v4/load_rebalance/global_status")
    assert status == 200, body
    entry = [e for e in body["evacuations"] if e["node"] == node.name]
    assert len(entry) == 1 and entry[0]["session_recipients"] == local, (local, body)
    return local


def test_session_recipients_are_current_in_every_state(cluster):
    """session_recipients are the available nodes of migrate_to (or of every other running
    node) from the first status call on, in every state, and follow other nodes' evacuations
    as they start and stop (not only at the 30 s retry)."""
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    # held in waiting_health_check: recipients are already listed
    assert start_evacuation(n1, n1, migrate_to=[n2.name], wait_health_check=60) == (200, {"code": 0, "data": []})
    assert local_status(n1)["state"] == "waiting_health_check"
    assert recipients(n1) == [n2.name]
    assert n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})[0] == 200
    assert start_evacuation(n1, n1, wait_health_check=60) == (200, {"code": 0, "data": []})
    assert recipients(n1) == sorted([n2.name, n3.name])
    # n3 starts evacuating: it is no longer a recipient; when it stops it is one again
    assert start_evacuation(n3, n3, wait_health_check=0) == (200, {"code": 0, "data": []})
    poll(lambda: (lambda r: (r == [n2.name], r))(recipients(n1)), 3.0, "n3 leaves n1's recipients")
    assert n3.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n3.name, {})[0] == 200
    poll(lambda: (lambda r: (r == sorted([n2.name, n3.name]), r))(recipients(n1)), 3.0, "n3 is back")
    assert n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})[0] == 200


def test_sessions_move_as_soon_as_a_recipient_becomes_available(cluster):
    """In evicting_sessions with no recipient (the others evacuate too), the node waits and
    retries every 30 s; when a recipient becomes available its status lists it at once
    and the sessions move without waiting for that retry."""
    c = cluster(3)
    n1, n2, n3 = c[1], c[2], c[3]
    for n in (n2, n3):
        assert start_evacuation(n, n, wait_takeover=0) == (200, {"code": 0, "data": []})
    make_offline_sessions(n1, "wait", 5)
    assert start_evacuation(n1, n1, wait_takeover=0) == (200, {"code": 0, "data": []})
    st = poll(lambda: (lambda s: (s["state"] == "evicting_sessions", s))(local_status(n1)), 10.0, "evicting_sessions")
    assert st["session_recipients"] == [] and session_count(n1) == 5, st
    assert n2.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n2.name, {})[0] == 200
    poll(lambda: (lambda r: (r == [n2.name], r))(recipients(n1)), 3.0, "n2 becomes a recipient")
    # well before the 30 s retry: the sessions are on n2 and the evacuation is done
    poll(lambda: (lambda s: (s["state"] == "prohibiting", s))(local_status(n1)), 10.0, "the sessions move to n2")
    assert session_count(n2) == 5 and session_count(n1) == 0
    for n in (n1, n3):
        assert n.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n.name, {})[0] == 200
