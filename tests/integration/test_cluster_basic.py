"""Cluster: three nodes form a cluster from their static seeds; the admin
API of every node shows every member (/api/v4/nodes, /api/v4/nodes/{node},
/api/v4/nodes/{node}/stats, /api/v4/cluster) and finds a client on any node;
`tidemq_ctl cluster status` on every node lists all three.

Node i is tidemq<i>@127.0.0.<i> (see clusterhelpers.py)."""

import pytest

from clusterhelpers import (  # noqa: F401  (fixtures)
    cluster, ctl, ctl_bin, pytestmark_cluster, status_line, wait_client_node, wait_cluster, poll)

pytestmark = pytestmark_cluster


def entry(data):
    """GET /api/v4/nodes/{node} answers one entry: an object (or a list of one)."""
    if isinstance(data, list):
        assert len(data) == 1, data
        data = data[0]
    assert isinstance(data, dict), data
    return data


def test_three_nodes_form_a_cluster_from_seeds(cluster):
    c = cluster(3)  # returns once every node reports three running members
    names = sorted(c.names)
    assert names == ["tidemq1@127.0.0.1", "tidemq2@127.0.0.2", "tidemq3@127.0.0.3"]
    seen = wait_cluster(c.nodes, running=c.nodes)
    for n in c.nodes:
        assert seen[n.name]["running_nodes"] == names, seen
        assert seen[n.name].get("stopped_nodes", []) == [], seen
        info = n.nodes_info()
        assert sorted(info) == names, "GET /api/v4/nodes on %s: %r" % (n.name, info)
        for name, e in info.items():
            assert e["node_status"] == "Running", (n.name, e)
            assert isinstance(e["connections"], int) and isinstance(e["sessions"], int), e
            assert isinstance(e["uptime"], str) and e["uptime"], e
            assert isinstance(e["version"], str) and e["version"], e
        # one version for all (the same binary)
        assert len({e["version"] for e in info.values()}) == 1, info


def test_nodes_report_their_own_connections(cluster, make_client, uid):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    for i in range(2):
        make_client(n2, "c2-%d-%s" % (i, uid))
    make_client(n3, "c3-" + uid, version=4)
    want = {n1.name: 0, n2.name: 2, n3.name: 1}

    def counts(n, key):
        info = n.nodes_info()
        return {k: v[key] for k, v in info.items()} == want, info

    for n in c.nodes:  # every node sees every member's own counts
        for key in ("connections", "sessions"):
            poll(lambda: counts(n, key), 5, "%s per node as seen from %s" % (key, n.name))


def test_one_node_and_its_stats(cluster, make_client, uid):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    sub = make_client(n2, "st-" + uid)
    sub.subscribe("st/%s/#" % uid, qos=1)
    for target in c.nodes:
        e = entry(n1.data("/api/v4/nodes/" + target.name))
        assert e["node"] == target.name and e["node_status"] == "Running", e
    # stats of node 2, asked on node 1: the shape of GET /api/v4/stats of the node itself
    local = n2.data("/api/v4/stats")
    local = local[0] if isinstance(local, list) else local

    def stats_of_n2():
        s = entry(n1.data("/api/v4/nodes/%s/stats" % n2.name))
        return s.get("connections.count") == 1 and s.get("subscriptions.count") == 1, s

    s = poll(stats_of_n2, 5, "stats of %s via %s" % (n2.name, n1.name))
    assert set(local) - {"node"} <= set(s), (local, s)
    if "node" in s:
        assert s["node"] == n2.name, s
    for bad in ("nobody@127.0.0.9", "tidemq9@127.0.0.9"):
        for path in ("/api/v4/nodes/" + bad, "/api/v4/nodes/%s/stats" % bad):
            status, doc = n1.api("GET", path)
            assert status == 404, (path, status, doc)
            assert isinstance(doc, dict) and "not found" in str(doc.get("message", "")).lower(), doc


@pytest.mark.parametrize("version", [4, 5])
def test_client_found_from_any_node(cluster, make_client, uid, version):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    cid = "where-%s" % uid
    make_client(n2, cid, version=version)
    for n in c.nodes:
        data = wait_client_node(n, cid, n2)
        assert data[0]["clientid"] == cid and data[0]["connected"] is True, data
    assert n1.client_info("nobody-" + uid) == []


def test_cluster_status_on_every_node(cluster, ctl):
    c = cluster(3)
    for n in c.nodes:
        r = ctl("cluster", "status", node=n)
        assert (r.rc, r.out, r.err) == (0, status_line(c.nodes), ""), r
        assert r.out == ("Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2',"
                         "'tidemq3@127.0.0.3']}\n"), r
