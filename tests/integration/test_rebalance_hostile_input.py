"""Bodies nobody should send to the rebalance API, on real nodes: deeply nested JSON (directly,
and forwarded to another node over the cluster RPC) is refused with a clear error and never
echoed; the nodes keep running. An evacuation whose migrate_to names the node itself is refused."""

import http.client
import base64
import json

from clusterhelpers import ADMIN_PASSWORD, ADMIN_USER, cluster, pytestmark_cluster  # noqa: F401

pytestmark = pytestmark_cluster

DEPTH_ERROR = "the body is nested more than 32 levels deep"


def nested(levels):
    return '{"a":' * levels + "1" + "}" * levels


def post_raw(node, path, body):
    c = http.client.HTTPConnection(node.host, node.admin_port, timeout=10)
    try:
        auth = base64.b64encode(("%s:%s" % (ADMIN_USER, ADMIN_PASSWORD)).encode()).decode()
        c.request("POST", path, body=body, headers={"Authorization": "Basic " + auth,
                                                    "Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        return r.status, raw
    finally:
        c.close()


def test_deeply_nested_bodies_are_refused_on_every_route(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    for levels in (10000, 20000, 100000):
        for via, target in ((n1, n1), (n2, n1)):  # here, and forwarded over the cluster RPC
            for route in ("evacuation/start", "start", "plan"):
                status, raw = post_raw(via, "/api/v4/load_rebalance/%s/%s" % (target.name, route), nested(levels))
                assert (status, json.loads(raw)) == (200, {"code": 400, "message": DEPTH_ERROR}), (route, raw[:200])
                status, raw = post_raw(via, "/api/v5/load_rebalance/%s/%s" % (target.name, route), nested(levels))
                assert (status, json.loads(raw)) == (400, {"code": "BAD_REQUEST", "message": DEPTH_ERROR}), raw[:200]
    # both nodes are alive and nothing started
    for n in (n1, n2):
        assert n.api("GET", "/api/v4/load_rebalance/status") == (200, {"status": "disabled"})
        assert n.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200


def test_unknown_parameters_are_echoed_bounded(cluster):
    c = cluster(1, seeds=False)
    n1 = c[1]
    body = json.dumps({"x": list(range(-100000, 0))})
    status, raw = post_raw(n1, "/api/v4/load_rebalance/%s/start" % n1.name, body)
    doc = json.loads(raw)
    assert status == 200 and doc["code"] == 400, doc
    assert doc["message"].startswith('Unknown rebalance param: {<<"x">>,[-100000,') and len(doc["message"]) < 400, doc
    # 20 levels are within the limit but are not echoed whole either
    status, raw = post_raw(n1, "/api/v4/load_rebalance/%s/start" % n1.name, nested(20))
    doc = json.loads(raw)
    assert doc["message"].startswith('Unknown rebalance param: {<<"a">>,[{<<"a">>,') and "..." in doc["message"], doc


def test_migrate_to_naming_the_node_itself_is_refused(cluster):
    c = cluster(2)
    n1, n2 = c[1], c[2]
    for targets in ([n1.name], [n1.name, n2.name]):
        status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name, {"migrate_to": targets})
        assert (status, body) == (200, {"code": 400, "message": "migrate_to contains the evacuated node itself: '%s'"
                                        % n1.name}), body
    assert n1.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200
