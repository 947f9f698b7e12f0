"""Clients seen and kicked through any node of a cluster.

- A session that moves to another node (POST /api/v4/clients/{id}/migrate, or an
  evacuation of its node) keeps what GET /api/v4/clients/{id} shows about its
  client: the new node answers with the same keepalive, address, port,
  connected_at, ... as the old one did (connected: false), and
  `tidemq_ctl clients show` prints every field.
- DELETE /api/v4/clients/{id} and `tidemq_ctl clients kick` on a node that does
  not hold the client kick it on the node that does (MQTT 5: DISCONNECT 0x98), and
  the session is gone from the whole cluster; 404 only when no node has it, 503
  when the node that has it does not answer."""

import signal

import mqttraw
from clusterhelpers import (  # noqa: F401  (fixtures)
    cluster, ctl, ctl_bin, poll, pytestmark_cluster, wait_client_node)
from mqttraw import DISCONNECT

pytestmark = pytestmark_cluster

PERSIST = {"SessionExpiryInterval": 600}


def entry(node, cid):
    """The one GET /api/v4/clients/{id} entry on `node`."""
    data = node.client_info(cid)
    assert isinstance(data, list) and len(data) == 1, (node.name, cid, data)
    return data[0]


def reconnect_session_present(node, cid):
    c = mqttraw.RawClient(node.host, node.port)
    try:
        ack = c.connect(cid, clean=False, props=dict(PERSIST))
        assert ack.rc == 0, ack
        return ack.session_present
    finally:
        c.close()


# --- a moved session keeps its client info ------------------------------------------------------

def offline_session_on(node, make_client, cid):
    """An MQTT 5 client (paho, keepalive 37) connects to `node` and leaves its session there.
    Returns the client's own address and port."""
    c = make_client(node, client_id=cid, keepalive=37, clean=False, props=dict(PERSIST), username="u-" + cid)
    c.subscribe([("info/" + cid, 1)])
    ip, port = c.c.socket().getsockname()[:2]
    c.disconnect()
    poll(lambda: (lambda e: (e["connected"] is False, e))(entry(node, cid)), 5.0, "%s offline" % cid)
    return ip, port


def check_moved(ctl, nodes, cid, before, new_owner, ip, port):
    """GET on every node shows `before` (as the old node showed it), but on `new_owner`."""
    for n in nodes:
        moved = entry(n, cid)
        assert (moved["node"], moved["connected"], moved["keepalive"]) == (new_owner.name, False, 37), moved
        assert moved["connected_at"] is not None and moved["connected_at"] == before["connected_at"], moved
        assert (moved["ip_address"], moved["port"]) == (ip, port), moved
    assert before["keepalive"] == 37 and before["ip_address"] == ip and before["port"] == port, before
    assert before["connected_at"] is not None and before["disconnected_at"] is not None, before
    assert before["created_at"] is not None and before["username"] == "u-" + cid, before
    assert before["clean_start"] is False and before["expiry_interval"] == 600, before
    assert ip.startswith("127.0.0."), ip
    want = dict(before, node=new_owner.name)
    for n in nodes:
        assert entry(n, cid) == want, n.name
        r = ctl("clients", "show", cid, node=n)
        assert (r.rc, r.err) == (0, ""), r
        assert "undefined" not in r.out and "=-" not in r.out, r
        assert ("peername=%s:%d" % (ip, port)) in r.out and "keepalive=37," in r.out, r
        assert ("connected_at=%s," % before["connected_at"]) in r.out, r
        assert r.out.endswith(", disconnected_at=%s)\n" % before["disconnected_at"]), r


def test_migrated_session_keeps_its_client_info(cluster, make_client, ctl):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    cid = "info-migrated"
    ip, port = offline_session_on(n1, make_client, cid)
    before = entry(n1, cid)
    assert before["node"] == n1.name and before["connected_at"] is not None, before

    status, body = n1.api("POST", "/api/v4/clients/%s/migrate" % cid, {"node": n2.name})
    assert (status, body) == (200, {"code": 0}), body
    wait_client_node(n1, cid, n2.name)
    check_moved(ctl, (n1, n2), cid, before, n2, ip, port)
    # the session itself came along
    assert reconnect_session_present(n2, cid) is True


def test_evacuated_session_keeps_its_client_info(cluster, make_client, ctl):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    cid = "info-evacuated"
    ip, port = offline_session_on(n1, make_client, cid)
    before = entry(n1, cid)

    body = {"conn_evict_rate": 100, "sess_evict_rate": 100, "wait_takeover": 1, "migrate_to": [n2.name]}
    status, answer = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name, body)
    assert (status, answer) == (200, {"code": 0, "data": []}), answer
    wait_client_node(n2, cid, n2.name, timeout=15)
    check_moved(ctl, (n1, n2), cid, before, n2, ip, port)
    status, _ = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert status == 200


def test_ctl_prints_unknown_fields_as_a_dash(cluster, make_client, ctl):
    c = cluster(2)
    n1 = c[1]
    make_client(n1, client_id="dash-v4", version=4)  # 3.1.1, no username
    r = ctl("clients", "show", "dash-v4", node=n1)
    assert (r.rc, r.err) == (0, ""), r
    assert "username=-," in r.out and "undefined" not in r.out, r
    assert "disconnected_at" not in r.out, r  # connected: not printed at all


# --- kick through any node ---------------------------------------------------------------------

def gone_everywhere(nodes, cid):
    poll(lambda: (all(n.client_info(cid) == [] for n in nodes), [n.client_info(cid) for n in nodes]),
         5.0, "no node shows %s" % cid)


def kick_via(node, cid):
    from urllib.parse import quote
    return node.api("DELETE", "/api/v4/clients/" + quote(cid, safe=""))


def connected_on(node, cid, via):
    c = mqttraw.RawClient(node.host, node.port)
    assert c.connect(cid, clean=False, props=dict(PERSIST)).rc == 0
    c.subscribe("kick/" + cid, qos=1)
    wait_client_node(via, cid, node.name)
    return c


def test_kick_a_connected_client_through_another_node(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    cid = "kick-remote-live"
    client = connected_on(n1, cid, via=n2)
    try:
        assert kick_via(n2, cid) == (200, {"code": 0})
        pkts = client.wait_closed(5)
        assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x98)], pkts
    finally:
        client.close()
    gone_everywhere((n1, n2), cid)
    assert reconnect_session_present(n2, cid) is False


def test_kick_an_offline_session_through_another_node(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    cid = "kick-remote-offline"
    client = connected_on(n1, cid, via=n2)
    client.disconnect()
    client.close()
    poll(lambda: (lambda e: (e["connected"] is False, e))(entry(n2, cid)), 5.0, "offline, seen from node 2")
    assert kick_via(n2, cid) == (200, {"code": 0})
    gone_everywhere((n1, n2), cid)
    assert reconnect_session_present(n1, cid) is False


def test_ctl_kicks_through_another_node(cluster, ctl):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    cid = "kick-ctl-remote"
    client = connected_on(n1, cid, via=n2)
    try:
        r = ctl("clients", "kick", cid, node=n2)
        assert (r.rc, r.out, r.err) == (0, "ok\n", ""), r
        pkts = client.wait_closed(5)
        assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x98)], pkts
    finally:
        client.close()
    gone_everywhere((n1, n2), cid)
    # offline now: kicking it again finds nobody
    r = ctl("clients", "kick", cid, node=n2)
    assert (r.rc, r.out, r.err) == (1, "", "Error: client not found\n"), r


def test_kick_unknown_client_is_404_on_every_node(cluster, ctl):
    c = cluster(2)
    for n in c.nodes:
        assert kick_via(n, "nobody-anywhere") == (404, {"code": 404, "message": "client not found"})
        r = ctl("clients", "kick", "nobody-anywhere", node=n)
        assert (r.rc, r.out, r.err) == (1, "", "Error: client not found\n"), r


def test_kick_when_the_owner_does_not_answer_is_503(cluster):
    # The owner is stopped (SIGSTOP) for less than the down detection, but longer than a
    # cluster call may take: the kick's call, or the lookup if node 1 is the client's home,
    # goes unanswered.
    c = cluster(2, settings={"cluster.rpc_timeout": '"1s"', "cluster.down_after": 240})
    n1, n2 = c[1], c[2]
    cid = "kick-unanswered"
    client = connected_on(n1, cid, via=n2)
    n1.send_signal(signal.SIGSTOP)
    try:
        status, body = kick_via(n2, cid)
    finally:
        n1.send_signal(signal.SIGCONT)
        client.close()
    assert status == 503 and body["code"] == 503, body
    assert "no answer in time" in body["message"], body
