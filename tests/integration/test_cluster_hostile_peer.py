"""What a hostile or broken cluster peer can do to a node, on real nodes: before the cookie check
it cannot make the node buffer a big frame or hold many handshakes open; after it, a control
request with arguments of the wrong type gets an error reply at once (not silence until the
caller's rpc_timeout), and the node keeps working."""

import socket
import struct

import pytest

from clusterhelpers import cluster, pytestmark_cluster  # noqa: F401
from clusterpeer import AUTH, CHALLENGE, ClusterPeer

pytestmark = pytestmark_cluster


def node_alive(node):
    return node.api("GET", "/api/v4/nodes")[0] == 200


def test_a_big_frame_before_the_cookie_check_closes_the_connection(cluster):
    c = cluster(1, seeds=False)
    n1 = c[1]
    peer = ClusterPeer(n1.host, n1.cluster_port)
    kind, _ = peer.read_frame()
    assert kind == CHALLENGE
    # announce a 64 MiB auth frame and start sending it: the node hangs up at the header instead
    # of buffering it until the handshake deadline
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        peer.sock.sendall(struct.pack(">IB", 64 * 1024 * 1024, AUTH))
        for _ in range(256):
            peer.sock.sendall(b"\0" * 65536)  # 16 MiB at most
    peer.close()
    assert node_alive(n1)
    assert "exceeds the limit" in n1.log_text()


def test_unauthenticated_handshakes_are_capped(cluster):
    c = cluster(1, seeds=False)
    n1 = c[1]
    socks = []
    try:
        for _ in range(100):
            socks.append(socket.create_connection((n1.host, n1.cluster_port), timeout=10))
        challenged = refused = 0
        for s in socks:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            if data:
                challenged += 1
            else:
                refused += 1
        assert challenged == 64 and refused == 36, (challenged, refused)
    finally:
        for s in socks:
            s.close()
    assert node_alive(n1)
    assert "handshakes already in progress" in n1.log_text()


BAD_CALLS = [
    ("members.v1", {"mqtt": 5, "members": "x"}),
    ("routes.sync.v1", {"filters": 7}),
    ("routes.delta.v1", {"ops": [[1, 2]]}),
    ("reg.lookup.v1", {"c": 5}),
    ("handoff.locate.v1", {"c": 5, "n": [], "r": "x"}),
    ("handoff.commit.v1", "not an object"),
    ("client.kick.v1", {"c": {"x": 1}}),
    ("rebalance.agent.changed.v1", {"node": 5}),
]


def test_control_requests_with_wrong_argument_types_get_an_error_reply(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    peer = ClusterPeer(n1.host, n1.cluster_port)
    try:
        peer.handshake("evil@127.0.0.9", c.cookie)
        for i, (method, args) in enumerate(BAD_CALLS, start=1):
            reply = peer.call(method, args, i)
            # the cluster's own error, or a plugin method's error result ({"ok": {"error": ...}})
            error = reply.get("err") or (reply.get("ok") or {}).get("error")
            assert isinstance(error, str) and error, (method, reply)
        reply = peer.call("no.such.method.v1", {}, 99)
        assert reply == {"r": 99, "err": "unknown method no.such.method.v1"}, reply
        reply = peer.call(5, {}, 100)
        assert "err" in reply, reply
    finally:
        peer.close()
    # the cluster still works
    assert node_alive(n1) and node_alive(n2)
    assert n1.data("/api/v4/cluster")["running_nodes"] and n2.name in n1.data("/api/v4/cluster")["running_nodes"]
