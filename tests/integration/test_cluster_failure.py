"""Cluster failures: a node killed with kill -9 is noticed within
cluster.down_after missed heartbeats (reported Stopped, its routes dropped) and
rejoins when restarted; a node with a wrong cookie is refused (and both sides
log it); a node with the default cookie refuses to cluster unless
cluster.allow_default_cookie = true."""

import time

import pytest

from clusterhelpers import (  # noqa: F401  (fixtures)
    DEFAULT_COOKIE, DOWN_SECONDS, DOWN_SLACK, accepts, cluster, ctl, ctl_bin, pytestmark_cluster,
    status_line, wait_cluster, wait_log, wait_no_route, wait_node_status, wait_route)
from mqtthelpers import assert_serving

pytestmark = pytestmark_cluster


def test_killed_node_is_stopped_and_rejoins_after_restart(cluster, ctl, make_client, uid):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    flt = "nd/%s/#" % uid
    sub3 = make_client(n3, "s3-" + uid, version=5)
    sub3.subscribe(flt, qos=1)
    sub2 = make_client(n2, "s2-" + uid, version=5)
    sub2.subscribe(flt, qos=1)
    for n in (n1, n2):
        wait_route(n, flt, n3)
    wait_route(n1, flt, n2)

    n3.kill9()
    t0 = time.monotonic()
    bound = DOWN_SECONDS + DOWN_SLACK
    for n in (n1, n2):
        wait_node_status(n, n3, "Stopped", timeout=bound - (time.monotonic() - t0))
    assert time.monotonic() - t0 <= bound
    seen = wait_cluster([n1, n2], running=[n1, n2], stopped=[n3], timeout=2)
    info = n1.nodes_info()
    assert sorted(info) == sorted(c.names), info
    assert [info[n.name]["node_status"] for n in c.nodes] == ["Running", "Running", "Stopped"], info
    r = ctl("cluster", "status", node=n1)
    assert (r.rc, r.out, r.err) == (0, status_line([n1, n2], [n3]), ""), (r, seen)
    assert r.out == ("Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2'],"
                     "stopped_nodes => ['tidemq3@127.0.0.3']}\n"), r
    # its routes are gone; the rest keeps working
    for n in (n1, n2):
        wait_no_route(n, owner=n3, timeout=max(bound - (time.monotonic() - t0), 1.0))
    assert (flt, n2.name) in n1.routes()
    pub = make_client(n1, "p-" + uid, version=5)
    pub.publish("nd/%s/x" % uid, b"while-down", qos=1)
    assert sub2.messages.get().payload == b"while-down"
    assert_serving(n1)

    # restart on the same config and data_dir: it rejoins, Running everywhere
    n3.start()
    wait_cluster(c.nodes, running=c.nodes, stopped=(), timeout=10)
    for n in c.nodes:
        info = n.nodes_info()
        assert {k: v["node_status"] for k, v in info.items()} == {m.name: "Running" for m in c.nodes}, (n, info)
    assert ctl("cluster", "status", node=n3).out == status_line(c.nodes)
    # routes of its new subscribers are visible again, and used
    flt2 = "back/" + uid
    again = make_client(n3, "s3b-" + uid, version=5)
    again.subscribe(flt2, qos=1)
    for n in (n1, n2):
        wait_route(n, flt2, n3)
    pub.publish(flt2, b"after-restart", qos=1)
    assert again.messages.get().payload == b"after-restart"


def test_wrong_cookie_is_refused_and_logged(cluster, uid):
    c = cluster(2)
    n1, n2 = c.nodes
    mark1 = n1.log_mark()
    rogue = c.add(4, seeds=[n1], cookie="not-the-" + c.cookie)
    c.start(4)
    # both sides say why
    line1 = wait_log(n1, "cookie", since=mark1)
    line4 = wait_log(rogue, "cookie")
    # never part of node 1's cluster, meanwhile and afterwards
    deadline = time.monotonic() + max(1.0, 2 * DOWN_SECONDS)
    while True:
        for n in (n1, n2):
            d = n.cluster_info()
            assert rogue.name not in d.get("running_nodes", []) + d.get("stopped_nodes", []), (n.name, d)
            assert rogue.name not in n.nodes_info(), n.name
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    wait_cluster([n1, n2], running=[n1, n2], stopped=())
    wait_cluster([rogue], running=[rogue], stopped=())
    assert rogue.alive() and n1.alive(), (line1, line4)
    assert_serving(rogue)


@pytest.mark.parametrize("how", ["explicit", "unset"])
def test_default_cookie_refuses_to_cluster(cluster, how):
    """A node with the default cookie and seeds logs that it will not cluster with
    the default cookie, opens no cluster listener, and runs alone."""
    c = cluster(1)
    n1 = c[1]
    lone = c.add(2, seeds=[n1], cookie=DEFAULT_COOKIE if how == "explicit" else None)
    c.start(2)
    wait_log(lone, "default cookie")
    assert not accepts(lone.host, lone.cluster_port), "cluster listener open with the default cookie"
    assert lone.alive()
    assert_serving(lone)
    wait_cluster([lone], running=[lone], stopped=())
    wait_cluster([n1], running=[n1], stopped=())
    assert sorted(lone.nodes_info()) == [lone.name]
    assert sorted(n1.nodes_info()) == [n1.name]


def test_default_cookie_allowed_explicitly(cluster):
    """cluster.allow_default_cookie = true: two nodes with the default cookie cluster."""
    c = cluster(2, cookie=DEFAULT_COOKIE, settings={"cluster.allow_default_cookie": "true"})
    wait_cluster(c.nodes, running=c.nodes, stopped=())
    assert all(accepts(n.host, n.cluster_port) for n in c.nodes)
