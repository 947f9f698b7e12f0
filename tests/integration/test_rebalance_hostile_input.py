"""Bodies nobody should send to the rebalance API, on real nodes: deeply nested JSON (directly,
and forwarded to another node over the cluster RPC) is refused with a clear error and never
echoed; the nodes keep running. An evacuation whose migrate_to names the node itself is refused.
Whatever sits where the evacuation file should be, a node starts and stays evacuated; a stop
that cannot remove the file fails."""

import base64
import http.client
import json
import os
import shutil

import pytest

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


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo", "dangling symlink", "200 MB file", "directory"])
def test_an_unreadable_evacuation_file_keeps_the_node_evacuated_and_says_why(cluster, kind):
    """Whatever sits at <data_dir>/.evacuation, the node starts at once (no read without limit,
    no open() blocking on a FIFO) and, since it cannot tell what the evacuation was, resumes it
    with the defaults, refusing clients, with an error naming the file."""
    c = cluster(1, seeds=False)
    n1 = c[1]
    n1.kill9()
    path = os.path.join(str(n1.workdir / "data"), ".evacuation")
    if kind == "symlink to /dev/zero":
        os.symlink("/dev/zero", path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling symlink":
        os.symlink(os.path.join(str(n1.workdir / "data"), "gone"), path)
    elif kind == "200 MB file":
        with open(path, "wb") as f:
            f.truncate(200 * 1024 * 1024)
    else:
        os.mkdir(path)
    n1.start()  # raises if the listeners do not open in time
    assert n1.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503
    assert n1.api("GET", "/api/v4/load_rebalance/status")[1]["process"] == "evacuation"
    assert "cannot read %s" % path in n1.log_text(), n1.log_text()[-2000:]
    if kind == "directory":
        os.rmdir(path)  # the stop could not remove a directory: tested below
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name, {})
    assert (status, body) == (200, {"code": 0, "data": []}), body
    assert not os.path.lexists(path)
    assert n1.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200


def test_a_stop_that_cannot_be_persisted_fails_and_the_evacuation_goes_on(cluster):
    c = cluster(1, seeds=False)
    n1 = c[1]
    status, body = n1.api("POST", "/api/v4/load_rebalance/%s/evacuation/start" % n1.name, {})
    assert body == {"code": 0, "data": []}, body
    path = os.path.join(str(n1.workdir / "data"), ".evacuation")
    # the file cannot be removed (as root, permissions would not stop it: a non-empty directory does)
    os.remove(path)
    os.mkdir(path)
    open(os.path.join(path, "keep"), "w").close()
    stop = "/api/v4/load_rebalance/%s/evacuation/stop" % n1.name
    assert n1.api("POST", stop, {}) == (200, {"code": 400, "message": "persist_failed"})
    assert n1.api("POST", "/api/v5/load_rebalance/%s/evacuation/stop" % n1.name, {}) == (
        400, {"code": "BAD_REQUEST", "message": "error on node '%s': persist_failed" % n1.name})
    assert n1.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 503
    assert n1.api("GET", "/api/v4/load_rebalance/status")[1]["process"] == "evacuation"
    assert "evacuation stop refused: cannot remove %s" % path in n1.log_text()
    shutil.rmtree(path)
    assert n1.api("POST", stop, {}) == (200, {"code": 0, "data": []})
    assert n1.api("GET", "/api/v4/load_rebalance/availability_check")[0] == 200
