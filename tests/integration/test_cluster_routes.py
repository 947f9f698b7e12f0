"""Cluster routes: a publish on one node reaches the subscribers of every
node — QoS 0/1/2, MQTT 3.1.1 and 5 (paho and mosquitto_pub/mosquitto_sub),
wildcards, `$` topics, several matching subscribers on one node (each gets each
message once), retained messages, and a shared group spread over the three
nodes (each message to exactly one member).

The three nodes (tidemq<i>@127.0.0.<i>) are shared by the whole module; every
test uses its own topics.  A publish on node A after a SUBSCRIBE on node B is
only guaranteed once the route is visible on A: every test waits for it
(GET /api/v4/routes) first."""

import itertools
import time

import pytest

from clusterhelpers import (  # noqa: F401  (fixtures)
    cluster3, poll, pytestmark_cluster, shared_cluster, wait_no_route, wait_route, wait_routes)
from mqtthelpers import barrier, check_mosquitto_cli_roundtrip, requires_mosquitto_clients

pytestmark = pytestmark_cluster


def payloads(msgs):
    return [m.payload for m in msgs]


def numbered(n, prefix=b""):
    return [prefix + b"%d" % i for i in range(n)]


# --- one publisher, one subscriber ---------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_on_node1_reaches_subscriber_on_node2(cluster3, make_client, uid, qos, version):
    n1, n2, _ = cluster3.nodes
    topic = "x/" + uid
    sub = make_client(n2, "s-" + uid, version=version)
    assert sub.subscribe(topic, qos=qos) == [qos]
    wait_route(n1, topic, n2)
    pub = make_client(n1, "p-" + uid, version=version)
    for p in numbered(10):
        pub.publish(topic, p, qos=qos)
    got = sub.messages.get_n(10)
    assert payloads(got) == numbered(10), got
    assert all(m.topic == topic and m.qos == qos and not m.retain for m in got), got
    assert sub.messages.none_within(0.3) == [], "duplicates"


def test_every_node_reaches_every_node(cluster3, make_client, uid):
    topic = "all/" + uid
    subs = []
    for n in cluster3.nodes:
        s = make_client(n, "s%d-%s" % (n.index, uid), version=5)
        s.subscribe(topic, qos=1)
        subs.append(s)
    for n in cluster3.nodes:
        wait_routes(n, [(topic, o) for o in cluster3.nodes])
    for n in cluster3.nodes:
        make_client(n, "p%d-%s" % (n.index, uid), version=5).publish(topic, b"from-%d" % n.index, qos=1)
    for s in subs:
        got = sorted(payloads(s.messages.get_n(3)))
        assert got == [b"from-1", b"from-2", b"from-3"], (s.client_id, got)
        assert s.messages.none_within(0.2) == []


# --- mosquitto_pub / mosquitto_sub -----------------------------------------------------

@requires_mosquitto_clients
@pytest.mark.parametrize("proto", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_across_nodes(cluster3, cli_procs, uid, proto, qos):
    n1, n2, _ = cluster3.nodes
    topic = "cli/" + uid
    check_mosquitto_cli_roundtrip(cli_procs, n2, n1, topic, proto, qos, sub_wait_s=15,
                                  before_publish=lambda: wait_route(n1, topic, n2))


# --- wildcards and $ topics ----------------------------------------------------------------

def test_wildcard_subscriptions_across_nodes(cluster3, make_client, uid):
    n1, n2, n3 = cluster3.nodes
    plus_filter, hash_filter = "w/%s/+/temp" % uid, "w/%s/#" % uid
    plus = make_client(n2, "plus-" + uid, version=5)
    plus.subscribe(plus_filter, qos=1)
    hash_ = make_client(n3, "hash-" + uid, version=4)
    hash_.subscribe(hash_filter, qos=1)
    wait_routes(n1, [(plus_filter, n2), (hash_filter, n3)])
    pub = make_client(n1, "p-" + uid, version=5)
    topics = ["w/%s/k1/temp" % uid, "w/%s/k2/hum" % uid, "w/%s" % uid, "w/%s/k1/temp/deep" % uid,
              "w/%s/k3/temp" % uid, "other/%s/k1/temp" % uid]
    for i, t in enumerate(topics):
        pub.publish(t, b"%d" % i, qos=1)
    assert [(m.topic, m.payload) for m in plus.messages.get_n(2)] == [(topics[0], b"0"), (topics[4], b"4")]
    assert [(m.topic, m.payload) for m in hash_.messages.get_n(5)] == [(t, b"%d" % i) for i, t in
                                                                       enumerate(topics[:5])]
    assert plus.messages.none_within(0.3) == [] and hash_.messages.none_within(0.1) == []


def test_dollar_topics_not_matched_by_leading_wildcards_across_nodes(cluster3, make_client, uid):
    """MQTT-4.7.2-1: '#' and '+/...' do not match topics starting with '$'; a filter
    that names the '$' level does — on a remote node as on a local one."""
    n1, n2, _ = cluster3.nodes
    dollar_topic = "$cl/" + uid
    wild = make_client(n2, "wild-" + uid, version=5)
    wild.subscribe("#", qos=1, rh=2)  # rh=2: no retained messages left by other tests
    plus = make_client(n2, "plus-" + uid, version=5)
    plus.subscribe("+/" + uid, qos=1)
    exact = make_client(n2, "exact-" + uid, version=5)
    exact.subscribe(dollar_topic, qos=1)
    dollar_wild = make_client(n2, "dwild-" + uid, version=5)
    dollar_wild.subscribe("$cl/#", qos=1)
    wait_routes(n1, [("#", n2), ("+/" + uid, n2), (dollar_topic, n2), ("$cl/#", n2)])
    pub = make_client(n1, "p-" + uid, version=5)
    pub.publish(dollar_topic, b"dollar", qos=1)
    pub.publish("a/" + uid, b"plain", qos=1)
    assert payloads([exact.messages.get()]) == [b"dollar"]
    assert payloads([dollar_wild.messages.get()]) == [b"dollar"]
    m = plus.messages.get()
    assert (m.topic, m.payload) == ("a/" + uid, b"plain"), "'+/%s' matched a $ topic: %r" % (uid, m)
    _, before = wild.messages.get_until(lambda m: m.payload == b"plain" and m.topic == "a/" + uid)
    assert [m for m in before if m.topic.startswith("$")] == [], "'#' matched a $ topic: %r" % before
    assert exact.messages.none_within(0.2) == [] and plus.messages.none_within(0.1) == []


# --- several matching subscribers on one node --------------------------------------------

def test_each_subscriber_gets_each_message_once(cluster3, make_client, uid):
    """Node 2 has four matching subscriptions (three different filters, two clients
    on the same one): the message crosses to node 2 once and every local
    subscriber gets it exactly once; node 3 and node 1 likewise."""
    n1, n2, n3 = cluster3.nodes
    base = "eo/" + uid
    plan = [(n2, base + "/#"), (n2, base + "/+"), (n2, base + "/x"), (n2, base + "/#"),
            (n3, base + "/#"), (n3, base + "/+"), (n1, base + "/#")]
    subs = []
    for i, (node, flt) in enumerate(plan):
        s = make_client(node, "s%d-%s" % (i, uid), version=5 if i % 2 else 4)
        s.subscribe(flt, qos=1)
        subs.append(s)
    wait_routes(n1, {(flt, node) for node, flt in plan})
    pub = make_client(n1, "p-" + uid, version=5)
    for p in numbered(20):
        pub.publish(base + "/x", p, qos=1)
    for (node, flt), s in zip(plan, subs):
        assert payloads(s.messages.get_n(20)) == numbered(20), (node.name, flt)
    for (node, flt), s in zip(plan, subs):
        assert s.messages.none_within(0.1) == [], "duplicates for %s on %s" % (flt, node.name)


# --- routes follow the subscribers ---------------------------------------------------------

def test_route_lives_while_a_subscriber_is_left(cluster3, make_client, uid):
    n1, n2, _ = cluster3.nodes
    topic = "rf/" + uid
    a = make_client(n2, "a-" + uid, version=5)
    b = make_client(n2, "b-" + uid, version=5)
    a.subscribe(topic, qos=1)
    b.subscribe(topic, qos=1)
    wait_route(n1, topic, n2)
    assert n1.routes().count((topic, n2.name)) == 1, "one route per (filter, node), not per subscriber"
    assert a.unsubscribe(topic) == [0]
    pub = make_client(n1, "p-" + uid, version=5)
    pub.publish(topic, b"still-routed", qos=1)
    assert b.messages.get().payload == b"still-routed"
    assert (topic, n2.name) in n1.routes()
    b.disconnect()  # clean start, no expiry: the last subscriber's session ends
    wait_no_route(n1, owner=n2, topic=topic)
    wait_no_route(n2, owner=n2, topic=topic)


# --- retained messages ---------------------------------------------------------------------

_fresh_ids = itertools.count()


def _fresh_subscriber_gets(make_client, node, flt, n, uid, wait=0.5):
    """A new client on `node` subscribes to flt; returns what it got within `wait` s
    (at most n messages), then disconnects it."""
    s = make_client(node, "r%d-%s" % (next(_fresh_ids), uid), version=5)
    s.subscribe(flt, qos=1)
    got = []
    deadline = time.monotonic() + wait
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(s.messages.get(timeout=max(deadline - time.monotonic(), 0.001)))
        except AssertionError:
            break
    s.disconnect()
    return got


def test_retained_message_published_on_node1_reaches_new_subscriber_on_node3(cluster3, make_client, uid):
    n1, n2, n3 = cluster3.nodes
    topic = "ret/%s/a" % uid
    pub = make_client(n1, "p-" + uid, version=5)
    pub.publish(topic, b"kept", qos=1, retain=True)
    pub.publish("ret/%s/b" % uid, b"kept-b", qos=0, retain=True)

    def exact():
        got = _fresh_subscriber_gets(make_client, n3, topic, 1, uid)
        return len(got) == 1, got

    m = poll(exact, 8, "retained %s visible to a new subscriber on %s" % (topic, n3.name), interval=0.1)[0]
    assert (m.topic, m.payload, m.retain, m.qos) == (topic, b"kept", True, 1), m

    def wildcard():
        got = _fresh_subscriber_gets(make_client, n3, "ret/%s/#" % uid, 2, uid)
        return len(got) == 2, got

    got = poll(wildcard, 8, "both retained messages via a wildcard on %s" % n3.name, interval=0.1)
    assert sorted((m.topic, m.payload, m.retain) for m in got) == [
        (topic, b"kept", True), ("ret/%s/b" % uid, b"kept-b", True)], got

    # an empty retained message deletes it everywhere
    pub.publish(topic, b"", qos=1, retain=True)
    end = "ret-end/" + uid
    local_pub = make_client(n2, "p2-" + uid, version=5)

    def gone():
        s = make_client(n2, "g%d-%s" % (next(_fresh_ids), uid), version=5)
        s.subscribe(topic, qos=1)
        s.subscribe(end, qos=1)
        before = barrier(local_pub, s, end)
        s.disconnect()
        return before == [], before

    poll(gone, 8, "retained %s deleted on %s" % (topic, n2.name), interval=0.1)


# --- shared subscriptions ------------------------------------------------------------------

def test_shared_group_across_three_nodes(cluster3, make_client, uid):
    """$share/g/<t> with two members on every node: 300 messages published on node
    1 are each delivered to exactly one member in the whole cluster, and the
    members of every node get some."""
    total = 300
    topic = "sh/" + uid
    shared = "$share/g/" + topic
    members = []
    for n in cluster3.nodes:
        for k in range(2):
            m = make_client(n, "m%d%d-%s" % (n.index, k, uid), version=5 if k else 4)
            assert m.subscribe(shared, qos=1) == [1]
            members.append((n, m))
    n1 = cluster3[1]
    wait_routes(n1, [(shared, n) for n in cluster3.nodes])
    pub = make_client(n1, "p-" + uid, version=5)
    mids = [pub.publish(topic, b"%d" % i, qos=1, wait=False) for i in range(total)]
    for mid in mids:
        pub.wait_published(mid, timeout=15)

    got = {m.client_id: [] for _, m in members}

    def all_delivered():
        for _, m in members:
            got[m.client_id] += payloads(m.messages.drain())
        return sum(len(v) for v in got.values()) >= total, {k: len(v) for k, v in got.items()}

    poll(all_delivered, 15, "%d shared messages delivered" % total, interval=0.02)
    for _, m in members:
        got[m.client_id] += payloads(m.messages.none_within(0.05))
    every = sorted(int(p) for v in got.values() for p in v)
    assert every == list(range(total)), "each message to exactly one member: %d delivered, %d distinct" % (
        len(every), len(set(every)))
    per_node = {n.name: sum(len(got[m.client_id]) for nn, m in members if nn is n) for n in cluster3.nodes}
    assert all(v > 0 for v in per_node.values()), "members of every node get some: %r" % per_node
