"""`tidemq_ctl cluster status | join <node> | leave` and the admin API
behind them (GET /api/v4/cluster, POST /api/v4/cluster/join, POST
/api/v4/cluster/leave).

- against a fake admin API (no cluster needed): the exact texts, the requests
  sent, failures (exit 1, "Failed to ... the cluster: <message>" on stderr);
- usage errors (exit 2, nothing sent);
- against two real nodes started without seeds: join at runtime, leave, and the
  failures of a join (malformed name, unreachable node, wrong cookie).

Outputs are compared byte for byte."""

import base64
import time

import pytest

from adminhelpers import FakeAdminApi
from clusterhelpers import (  # noqa: F401  (fixtures)
    DOWN_SECONDS, cluster, ctl, ctl_bin, free_ports, pytestmark_cluster, status_line, wait_cluster,
    wait_no_route, wait_route)

pytestmark = pytestmark_cluster

N1, N2, N3 = "tidemq1@127.0.0.1", "tidemq2@127.0.0.2", "tidemq3@127.0.0.3"


# --- a fake admin API ----------------------------------------------------------------------

@pytest.fixture
def fake():
    f = FakeAdminApi()
    yield f
    f.close()


def fails(r, text):
    """Exit 1, nothing on stdout, exactly `text` + newline on stderr."""
    assert (r.rc, r.out, r.err) == (1, "", text + "\n"), r


@pytest.mark.parametrize("running,stopped,line", [
    ([N1], [], "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1']}\n"),
    ([N1, N2, N3], [], "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2',"
                       "'tidemq3@127.0.0.3']}\n"),
    ([N1, N2], [N3], "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2'],"
                     "stopped_nodes => ['tidemq3@127.0.0.3']}\n"),
    ([N1], [N2, N3], "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1'],"
                     "stopped_nodes => ['tidemq2@127.0.0.2','tidemq3@127.0.0.3']}\n"),
], ids=["alone", "three", "one-stopped", "two-stopped"])
def test_status_text(ctl, fake, running, stopped, line):
    fake.members(running, stopped)
    r = ctl("cluster", "status", *fake.flags)
    assert (r.rc, r.out, r.err) == (0, line, ""), r
    assert line == status_line(running, stopped)
    method, path, headers, body = fake.requests[-1]
    assert (method, path, body) == ("GET", "/api/v4/cluster", None)
    assert headers.get("Authorization") == "Basic " + base64.b64encode(b"admin:public").decode()


def test_status_without_stopped_nodes_key(ctl, fake):
    fake.answers[("GET", "/api/v4/cluster")] = (200, {"code": 0, "data": {"running_nodes": [N1, N2]}})
    r = ctl("cluster", "status", *fake.flags)
    assert (r.rc, r.out) == (0, "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']}\n"), r


def test_status_failures(ctl, fake):
    # a node without the cluster API
    r = ctl("cluster", "status", *fake.flags)
    fails(r, "Error: GET /api/v4/cluster not found on %s: the node does not provide this API" % fake.url)
    fake.answers[("GET", "/api/v4/cluster")] = (200, {"code": 0, "data": [N1]})
    fails(ctl("cluster", "status", *fake.flags), "Error: unexpected answer from /api/v4/cluster")


def test_join_sends_the_node_and_prints_the_status(ctl, fake):
    fake.answers[("POST", "/api/v4/cluster/join")] = (200, {"code": 0})
    fake.members([N1, N2])
    r = ctl("cluster", "join", "tidemq2@127.0.0.2:4371", *fake.flags)
    assert (r.rc, r.err) == (0, ""), r
    assert r.out == ("Join the cluster successfully.\n"
                     "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']}\n"), r
    posts = [(m, p, b) for m, p, _, b in fake.requests if m == "POST"]
    assert posts == [("POST", "/api/v4/cluster/join", {"node": "tidemq2@127.0.0.2:4371"})], fake.requests


@pytest.mark.parametrize("status,message", [
    (400, "bad node name 'x': expected name@host[:port]"),
    (502, "cannot reach tidemq2@127.0.0.2:4371: connection refused"),
    (502, "tidemq2@127.0.0.2:4371 refused the handshake: wrong cookie"),
])
def test_join_failure_prints_the_api_message(ctl, fake, status, message):
    fake.answers[("POST", "/api/v4/cluster/join")] = (status, {"code": status, "message": message})
    fake.members([N1])
    fails(ctl("cluster", "join", "tidemq2@127.0.0.2:4371", *fake.flags), "Failed to join the cluster: " + message)
    assert [m for m, _, _, _ in fake.requests] == ["POST"], "no status after a failed join"


def test_join_failure_with_code_in_a_200_answer(ctl, fake):
    fake.answers[("POST", "/api/v4/cluster/join")] = (200, {"code": 1, "message": "already in a cluster"})
    fails(ctl("cluster", "join", "tidemq2@127.0.0.2:4371", *fake.flags),
          "Failed to join the cluster: already in a cluster")


def test_leave(ctl, fake):
    fake.answers[("POST", "/api/v4/cluster/leave")] = (200, {"code": 0})
    r = ctl("cluster", "leave", *fake.flags)
    assert (r.rc, r.out, r.err) == (0, "Leave the cluster successfully.\n", ""), r
    assert [(m, p) for m, p, _, _ in fake.requests] == [("POST", "/api/v4/cluster/leave")]
    fake.answers[("POST", "/api/v4/cluster/leave")] = (502, {"code": 502, "message": "not in a cluster"})
    fails(ctl("cluster", "leave", *fake.flags), "Failed to leave the cluster: not in a cluster")


def test_join_and_leave_on_an_unreachable_node(ctl):
    port = free_ports("127.0.0.1", 1)[0]
    url = "http://127.0.0.1:%d" % port
    fails(ctl("cluster", "status", "--url", url), "Error: cannot reach %s: Connection refused" % url)
    fails(ctl("cluster", "join", N2, "--url", url),
          "Failed to join the cluster: cannot reach %s: Connection refused" % url)
    fails(ctl("cluster", "leave", "--url", url),
          "Failed to leave the cluster: cannot reach %s: Connection refused" % url)


@pytest.mark.parametrize("args", [
    ["cluster"],
    ["cluster", "join"],
    ["cluster", "join", "tidemq2@127.0.0.2", "extra"],
    ["cluster", "leave", "extra"],
    ["cluster", "status", "extra"],
    ["cluster", "status", "--bogus"],
    ["cluster", "frob"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(ctl, fake, args):
    r = ctl(*args, env={"TIDEMQ_CTL_URL": fake.url})
    assert r.rc == 2 and r.out == "" and r.err.strip(), r
    assert fake.requests == [], "a usage error must be reported before anything is sent"


def test_unknown_cluster_command_is_named(ctl):
    r = ctl("cluster", "frob", env={"TIDEMQ_CTL_URL": "http://127.0.0.1:1"})
    assert r.rc == 2 and r.err.startswith("Unknown command: frob\n"), r


def test_help_lists_the_cluster_commands(ctl):
    r = ctl("cluster", "--help")
    assert r.rc == 0, r
    for word in ("status", "join", "leave"):
        assert word in r.out, r
    assert "cluster" in ctl("--help").out


# --- real nodes ------------------------------------------------------------------------------

def alone(n):
    wait_cluster([n], running=[n], stopped=())


def test_join_and_leave_at_runtime(cluster, ctl, make_client, uid):
    c = cluster(2, seeds=False)
    n1, n2 = c.nodes
    alone(n1)
    alone(n2)
    r = ctl("cluster", "status", node=n1)
    assert (r.rc, r.out, r.err) == (0, "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1']}\n", ""), r

    r = ctl("cluster", "join", n2.address, node=n1)
    assert (r.rc, r.err) == (0, ""), r
    assert r.out == ("Join the cluster successfully.\n"
                     "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']}\n"), r
    wait_cluster([n1, n2], running=[n1, n2], stopped=())
    for n in (n1, n2):
        r = ctl("cluster", "status", node=n)
        assert (r.rc, r.out, r.err) == (0, status_line([n1, n2]), ""), (n.name, r)
        assert sorted(n.nodes_info()) == [n1.name, n2.name]
    # a real cluster: node 2's subscriber gets node 1's publish
    topic = "jl/" + uid
    sub = make_client(n2, "s-" + uid, version=5)
    sub.subscribe(topic, qos=1)
    wait_route(n1, topic, n2)
    make_client(n1, "p-" + uid, version=5).publish(topic, b"joined", qos=1)
    assert sub.messages.get().payload == b"joined"

    r = ctl("cluster", "leave", node=n2)
    assert (r.rc, r.out, r.err) == (0, "Leave the cluster successfully.\n", ""), r
    # the other forgets it (not "stopped"); it keeps running alone
    alone(n1)
    alone(n2)
    wait_no_route(n1, owner=n2)
    for n in (n1, n2):
        r = ctl("cluster", "status", node=n)
        assert (r.rc, r.out, r.err) == (0, status_line([n]), ""), (n.name, r)
        assert sorted(n.nodes_info()) == [n.name]
        assert n.alive()
    # and they stay apart (no seeds, no reconnect of a forgotten member)
    end = time.monotonic() + max(1.0, 2 * DOWN_SECONDS)
    while time.monotonic() < end:
        assert n1.cluster_info()["running_nodes"] == [n1.name]
        assert n2.cluster_info()["running_nodes"] == [n2.name]
        time.sleep(0.1)
    assert ctl("cluster", "status", node=n1).out == "Cluster status: #{running_nodes => ['tidemq1@127.0.0.1']}\n"


def test_join_failures(cluster, ctl):
    c = cluster(2, seeds=False)
    n1, n2 = c.nodes
    rogue = c.add(3, cookie="other-" + c.cookie)
    c.start(3)
    for n in c.nodes:
        alone(n)

    prefix = "Failed to join the cluster: "

    def failed_join(target):
        r = ctl("cluster", "join", target, node=n1)
        assert r.rc == 1 and r.out == "" and r.err.startswith(prefix) and r.err.endswith("\n"), r
        assert r.err.count("\n") == 1 and len(r.err) > len(prefix) + 1, r
        return r.err[len(prefix):-1]

    failed_join("not a node name")
    nowhere = "tidemq9@127.0.0.9:%d" % free_ports("127.0.0.9", 1)[0]
    failed_join(nowhere)
    why = failed_join(rogue.address)
    assert "cookie" in why.lower(), "the message says why: %r" % why
    # a failed join leaves no trace: the target is not remembered as a (stopped) member
    for n in c.nodes:
        alone(n)
    assert ctl("cluster", "status", node=n1).out == status_line([n1])

    # the same through the API: 400 for a malformed name, 502 when the node cannot be reached or refuses
    for body, want in [({"node": "not a node name"}, 400), ({"node": "no-host@"}, 400), ({}, 400),
                       ({"node": nowhere}, 502), ({"node": rogue.address}, 502)]:
        status, doc = n1.api("POST", "/api/v4/cluster/join", body)
        assert status == want, (body, status, doc)
        assert isinstance(doc, dict) and doc.get("code") != 0 and isinstance(doc.get("message"), str) \
            and doc["message"], (body, doc)
    # the successful one, through the API
    status, doc = n1.api("POST", "/api/v4/cluster/join", {"node": n2.address})
    assert (status, doc.get("code")) == (200, 0), doc
    wait_cluster([n1, n2], running=[n1, n2], stopped=())
    alone(rogue)
