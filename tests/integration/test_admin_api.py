"""Admin HTTP API: authentication (Basic, API keys, failed-login rate
limit), request limits and errors, and every v4 endpoint against a real node
driven by real MQTT clients.

Every test starts its own node with the admin listener on a free loopback port
(failed logins are counted per source address, so nodes are never shared).
"""

import base64
import http.client
import json
import re
import socket
import time
import uuid

import pytest

from adminhelpers import start_with_admin_api, wait_admin_listening  # noqa: E402

import mqttraw
from conftest import free_port
from mqtthelpers import wait_for

pytestmark = pytest.mark.tidemq_only(reason="the admin HTTP API is tidemq's own")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "public"
WWW_AUTHENTICATE = 'Basic realm="tidemq"'


# --- HTTP helpers --------------------------------------------------------------

def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


class Admin:
    """HTTP client of one node's admin API. auth: True (the admin user), None (no
    Authorization header), (user, password), or a raw header string."""

    def __init__(self, host, port, user=ADMIN_USER, password=ADMIN_PASSWORD):
        self.host, self.port, self.user, self.password = host, port, user, password

    def headers_for(self, auth, body_is_json):
        h = {}
        if auth is True:
            h["Authorization"] = basic(self.user, self.password)
        elif isinstance(auth, tuple):
            h["Authorization"] = basic(*auth)
        elif isinstance(auth, str):
            h["Authorization"] = auth
        if body_is_json:
            h["Content-Type"] = "application/json"
        return h

    @staticmethod
    def encode(body):
        if body is None or isinstance(body, (bytes, str)):
            return body, body is not None
        return json.dumps(body), True

    def request(self, method, path, body=None, auth=True, source=None, timeout=5.0, conn=None):
        data, is_json = self.encode(body)
        c = conn or http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                               source_address=(source, 0) if source else None)
        try:
            c.request(method, path, body=data, headers=self.headers_for(auth, is_json))
            r = c.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            if conn is None:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, body=None, **kw):
        """A request that must succeed with {"code":0,...}; returns the JSON."""
        r = self.request(method, path, body, **kw)
        assert r.status == 200, r
        doc = r.json
        assert doc["code"] == 0, doc
        return doc


def start_admin_node(broker_factory, settings=None, **kw):
    """A node with its admin API on a free port; returns (broker, Admin)."""
    b, port, s = start_with_admin_api(broker_factory, settings, **kw)
    return b, Admin(b.host, port, s.get("management.default_user", ADMIN_USER),
                    s.get("management.default_password", ADMIN_PASSWORD))


@pytest.fixture
def node(broker_factory):
    return start_admin_node(broker_factory)


@pytest.fixture
def admin_node(broker_factory):
    """admin_node(settings=None, **mqtt_settings) -> (broker, Admin)"""
    return lambda settings=None, **kw: start_admin_node(broker_factory, settings, **kw)


def assert_v4_error(r, status, message_re=None):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    doc = r.json
    assert doc["code"] == status, doc
    assert isinstance(doc["message"], str) and doc["message"], doc
    if message_re:
        assert re.search(message_re, doc["message"]), doc


def assert_401(r):
    assert_v4_error(r, 401)
    assert r.headers.get("WWW-Authenticate") == WWW_AUTHENTICATE, r.headers


def client_info(adm, client_id):
    data = adm.ok("GET", "/api/v4/clients/" + quote(client_id))["data"]
    assert isinstance(data, list) and len(data) <= 1, data
    return data[0] if data else None


def quote(s):
    from urllib.parse import quote as q
    return q(s, safe="")


# every endpoint: (method, path, body, status with valid credentials on a fresh node)
ENDPOINTS = [
    ("GET", "/api/v4/nodes", None, 200),
    ("GET", "/api/v4/stats", None, 200),
    ("GET", "/api/v4/clients", None, 200),
    ("GET", "/api/v4/clients?_page=1&_limit=5", None, 200),
    ("GET", "/api/v4/clients/nobody", None, 200),
    ("DELETE", "/api/v4/clients/nobody", None, 404),
    ("GET", "/api/v4/subscriptions", None, 200),
    ("POST", "/api/v4/mqtt/publish", {"topic": "t/1", "payload": "x"}, 200),
    ("GET", "/api/v4/api_keys", None, 200),
    ("POST", "/api/v4/api_keys", {"key": "k1", "description": "d"}, 200),
    ("DELETE", "/api/v4/api_keys/nokey", None, 404),
    ("GET", "/metrics", None, 200),
]
ENDPOINT_IDS = ["%s %s" % (m, p) for m, p, _, _ in ENDPOINTS]


# --- authentication ------------------------------------------------------------

@pytest.mark.parametrize("method,path,body,status", ENDPOINTS, ids=ENDPOINT_IDS)
def test_endpoint_requires_credentials(node, method, path, body, status):
    _, adm = node
    assert_401(adm.request(method, path, body, auth=None))
    assert_401(adm.request(method, path, body, auth=(ADMIN_USER, "wrong")))
    r = adm.request(method, path, body)
    assert r.status == status, r
    if path != "/metrics":
        assert r.json["code"] == (0 if status == 200 else status), r


def test_rejected_requests_have_no_effect(node, make_client, uid):
    b, adm = node
    victim = make_client(b, client_id="victim-" + uid)
    victim.subscribe("noauth/#", qos=1)
    assert_401(adm.delete("/api/v4/clients/victim-" + uid, auth=None))
    assert_401(adm.post("/api/v4/mqtt/publish", {"topic": "noauth/x", "payload": "p"}, auth=None))
    assert_401(adm.post("/api/v4/api_keys", {"key": "sneaky"}, auth=("admin", "nope")))
    assert victim.messages.none_within(0.3) == []
    assert client_info(adm, "victim-" + uid)["connected"] is True
    assert adm.ok("GET", "/api/v4/api_keys")["data"] == []
    assert not victim.disconnected.is_set()


@pytest.mark.parametrize("header", [
    basic("admin", "wrong"),
    basic("nobody", "public"),
    basic("admin", ""),
    basic("admin", "public ") ,
    "Bearer abcdef",
    "Basic",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"admin-public-without-colon").decode(),
    "basic " + base64.b64encode(b"admin:public").decode()[:-1],
], ids=["wrong-password", "wrong-user", "empty-password", "trailing-space", "bearer", "basic-no-creds",
        "not-base64", "no-colon", "truncated"])
def test_bad_credentials_get_401(node, header):
    _, adm = node
    assert_401(adm.get("/api/v4/nodes", auth=header))
    assert adm.get("/api/v4/nodes").status == 200


@pytest.mark.parametrize("password", ["secret1", "s3cret!!", "pa:ss w\u00f6rd", "abc", "abcd"])
def test_configured_credentials(admin_node, password):
    # passwords of every length modulo 3: the Basic header is base64 with 0, 1 or 2 '=' of padding
    _, adm = admin_node(settings={"management.default_user": "ops", "management.default_password": password})
    assert adm.ok("GET", "/api/v4/nodes")["data"]
    assert_401(adm.get("/api/v4/nodes", auth=("admin", "public")))
    assert_401(adm.get("/api/v4/nodes", auth=("ops", password + "x")))


def test_keep_alive_connection_serves_several_requests(node):
    b, adm = node
    c = http.client.HTTPConnection(b.host, adm.port, timeout=5)
    try:
        for path in ("/api/v4/nodes", "/api/v4/stats", "/nope", "/api/v4/clients"):
            r = adm.get(path, conn=c)
            assert r.status in (200, 404), r
        assert_401(adm.get("/api/v4/nodes", auth=None, conn=c))
        assert adm.get("/api/v4/nodes", conn=c).status == 200
    finally:
        c.close()


# --- failed-login rate limit ----------------------------------------------------

def test_failed_logins_lock_out_one_user_from_one_address_but_not_its_right_password(node):
    _, adm = node
    for i in range(10):
        assert_401(adm.get("/api/v4/nodes", auth=("admin", "guess%d" % i)))
    # the 11th wrong attempt for this user from this address is refused unchecked
    r = adm.get("/api/v4/nodes", auth=("admin", "guess-again"))
    assert_v4_error(r, 429, "too many failed logins for this user")
    assert_v4_error(adm.post("/api/v4/mqtt/publish", {"topic": "a"}, auth=("admin", "guess")), 429)
    # the operator behind the same address still gets in: its right password is checked once a
    # second (the client is told Retry-After: 1), so it is in within a couple of tries
    answers = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = adm.get("/api/v4/nodes")
        answers.append(r.status)
        if r.status == 200:
            break
        time.sleep(0.25)  # a client's retry pace, not a wait for the broker
    assert answers[-1] == 200 and set(answers) <= {200, 429}, answers
    # another source address or another user name is not affected
    for _ in range(3):
        adm.get("/api/v4/nodes", auth=("admin", "guess"))
    assert adm.get("/api/v4/nodes", source="127.0.0.2").status == 200
    assert_401(adm.get("/api/v4/nodes", auth=("someone", "x")))
    # unknown routes are answered before authentication
    assert adm.get("/api/v4/nothing-here").status == 404


def test_login_limits_come_from_the_config(admin_node):
    b, adm = admin_node({"management.login.max_failures": 2, "management.login.window": "2s"})
    assert_401(adm.get("/api/v4/nodes", auth=("admin", "a")))
    assert_401(adm.get("/api/v4/nodes", auth=("admin", "b")))
    assert_v4_error(adm.get("/api/v4/nodes", auth=("admin", "c")), 429)
    assert "locked out for 2 s after 2 failed logins" in b.logs()


def test_missing_credentials_do_not_count_as_failures(node):
    _, adm = node
    for _ in range(15):
        assert_401(adm.get("/api/v4/nodes", auth=None))
    for i in range(9):
        assert_401(adm.get("/api/v4/nodes", auth=("admin", "guess%d" % i)))
    assert adm.get("/api/v4/nodes").status == 200


# --- API keys ---------------------------------------------------------------------

def add_key(adm, key, description="", **kw):
    doc = adm.ok("POST", "/api/v4/api_keys", {"key": key, "description": description}, **kw)
    data = doc["data"]
    assert data["key"] == key, doc
    assert isinstance(data["secret"], str) and len(data["secret"]) >= 16, doc
    return data["secret"]


def test_api_key_lifecycle(node):
    _, adm = node
    secret = add_key(adm, "ci", "CI pipeline")
    other = add_key(adm, "ops")  # "ops:" + 48 hex characters: a Basic header with "==" padding
    keys = adm.ok("GET", "/api/v4/api_keys")["data"]
    assert sorted(k["key"] for k in keys) == ["ci", "ops"]
    ci = next(k for k in keys if k["key"] == "ci")
    assert ci["description"] == "CI pipeline"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ci["created_at"]), ci
    assert "secret" not in json.dumps(keys) and secret not in json.dumps(keys) and "hash" not in ci

    # a key authenticates with Basic key:secret, on every endpoint
    assert adm.ok("GET", "/api/v4/nodes", auth=("ci", secret))["data"]
    assert adm.ok("GET", "/api/v4/clients", auth=("ops", other))["meta"]["count"] == 0
    assert adm.get("/metrics", auth=("ci", secret)).status == 200
    assert_401(adm.get("/api/v4/nodes", auth=("ci", secret + "x")))
    assert_401(adm.get("/api/v4/nodes", auth=("ci", other)))
    # a key can manage keys too
    third = add_key(adm, "made-by", auth=("ci", secret))  # "=" padding
    assert adm.ok("GET", "/api/v4/nodes", auth=("made-by", third))

    # deleted: its credentials stop working at once (including cached ones)
    adm.ok("DELETE", "/api/v4/api_keys/ci")
    assert_401(adm.get("/api/v4/nodes", auth=("ci", secret)))
    assert_v4_error(adm.delete("/api/v4/api_keys/ci"), 404, "not found")
    assert sorted(k["key"] for k in adm.ok("GET", "/api/v4/api_keys")["data"]) == ["made-by", "ops"]
    assert adm.ok("GET", "/api/v4/nodes", auth=("ops", other))


@pytest.mark.parametrize("body,status", [
    ({"key": "dup"}, 409),
    ({"key": "admin"}, 409),
    ({"key": "has:colon"}, 400),
    ({"key": "has space"}, 400),
    ({"key": ""}, 400),
    ({"key": "k" * 65}, 400),
    ({"description": "no key"}, 400),
    ({"key": 42}, 400),
    ([], 400),
], ids=["duplicate", "admin-user-name", "colon", "space", "empty", "too-long", "missing", "not-string",
        "not-object"])
def test_bad_api_key_requests(node, body, status):
    _, adm = node
    add_key(adm, "dup")
    assert_v4_error(adm.post("/api/v4/api_keys", body), status)
    assert [k["key"] for k in adm.ok("GET", "/api/v4/api_keys")["data"]] == ["dup"]


def test_api_key_of_max_length(node):
    _, adm = node
    key = "k" * 64
    secret = add_key(adm, key)
    assert adm.ok("GET", "/api/v4/nodes", auth=(key, secret))


def test_api_keys_survive_a_restart_and_are_stored_hashed(node):
    b, adm = node
    secret = add_key(adm, "persist", "kept")
    stored = (b.workdir / "data" / "api_keys").read_text()
    assert "persist" in stored and secret not in stored
    assert b.stop() == 0
    b.start()
    assert wait_admin_listening(b, adm.port)
    assert adm.ok("GET", "/api/v4/nodes", auth=("persist", secret))
    keys = adm.ok("GET", "/api/v4/api_keys")["data"]
    assert [(k["key"], k["description"]) for k in keys] == [("persist", "kept")]


# --- request limits and errors ------------------------------------------------------

def test_oversized_body_gets_413(admin_node):
    _, adm = admin_node(settings={"management.max_body_size": 1024})
    small = {"topic": "big/t", "payload": "x" * 900}
    assert adm.ok("POST", "/api/v4/mqtt/publish", small)
    r = adm.post("/api/v4/mqtt/publish", {"topic": "big/t", "payload": "x" * 2000})
    assert_v4_error(r, 413, "too large")
    # the node is still serving
    assert adm.ok("GET", "/api/v4/nodes")


def test_oversized_body_rejected_before_it_is_read(admin_node):
    # a 4 MiB upload against a 1 KiB limit: refused from the Content-Length alone
    _, adm = admin_node(settings={"management.max_body_size": 1024})
    s = socket.create_connection((adm.host, adm.port), timeout=5)
    try:
        s.sendall(("POST /api/v4/mqtt/publish HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % (basic(ADMIN_USER, ADMIN_PASSWORD), 4 << 20)).encode())
        head = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        assert head.startswith(b"HTTP/1.1 413"), head
    finally:
        s.close()
    assert adm.ok("GET", "/api/v4/nodes")


@pytest.mark.parametrize("path", ["/api/v4/mqtt/publish", "/api/v4/api_keys"])
@pytest.mark.parametrize("body", ['{"topic": "a", ', "not json", "", '{"topic": "a"} trailing', "\xff"],
                         ids=["truncated", "text", "empty", "trailing", "bad-utf8"])
def test_malformed_json_gets_400(node, path, body):
    _, adm = node
    data = body.encode("latin-1")
    r = adm.request("POST", path, data, timeout=5)
    assert_v4_error(r, 400, "^invalid JSON: ")


@pytest.mark.parametrize("method,path", [
    ("GET", "/"),
    ("GET", "/api/v4"),
    ("GET", "/api/v4/nope"),
    ("GET", "/api/v5/nodes"),
    ("GET", "/api/v4/clients/a/b"),
    ("GET", "/metrics/extra"),
])
def test_unknown_route_gets_404(node, method, path):
    _, adm = node
    assert_v4_error(adm.request(method, path), 404)
    assert_v4_error(adm.request(method, path, auth=None), 404)


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/v4/nodes"),
    ("POST", "/api/v4/stats"),
    ("POST", "/api/v4/clients"),
    ("PUT", "/api/v4/clients/x"),
    ("GET", "/api/v4/mqtt/publish"),
    ("PUT", "/api/v4/api_keys"),
    ("GET", "/api/v4/api_keys/x"),
    ("POST", "/metrics"),
])
def test_wrong_method_gets_405(node, method, path):
    _, adm = node
    assert_v4_error(adm.request(method, path, "{}" if method in ("POST", "PUT") else None), 405)


# --- nodes and stats -------------------------------------------------------------------

def test_nodes(admin_node, make_client, make_raw, uid):
    b, adm = admin_node(settings={"node.name": "it-node@127.0.0.1"})
    make_client(b, client_id="n1-" + uid)
    make_client(b, client_id="n2-" + uid, version=4)
    make_raw(b, client_id="n3-" + uid)
    off = make_raw(b, client_id="n4-" + uid, props={"SessionExpiryInterval": 300})
    off.disconnect()
    wait_for(lambda: adm.ok("GET", "/api/v4/nodes")["data"][0]["connections"] == 3,
             message="connections never came to 3")
    data = adm.ok("GET", "/api/v4/nodes")["data"]
    assert len(data) == 1, data
    n = data[0]
    assert n["node"] == "it-node@127.0.0.1"
    assert n["node_status"] == "Running"
    assert n["connections"] == 3
    assert n["sessions"] == 4
    assert re.match(r"^\d+\.\d+\.\d+", n["version"]), n
    assert re.match(r"^(\d+ days, )?(\d+ hours, )?(\d+ minutes, )?\d+ seconds$", n["uptime"]), n


def test_stats(node, make_client, uid):
    b, adm = node
    c1 = make_client(b, client_id="s1-" + uid)
    c2 = make_client(b, client_id="s2-" + uid)
    c1.subscribe([("st/a", 1), ("st/b", 0)])
    c2.subscribe("st/a", qos=2)
    c1.publish("st/ret1", b"r", qos=1, retain=True)
    c1.publish("st/ret2", b"r", qos=1, retain=True)
    data = adm.ok("GET", "/api/v4/stats")["data"]
    assert len(data) == 1
    s = data[0]
    assert s["node"] == "tidemq@127.0.0.1"
    assert s["connections.count"] == 2
    assert s["sessions.count"] == 2
    assert s["subscriptions.count"] == 3
    assert s["topics.count"] == 2
    assert s["retained.count"] == 2
    for k in ("connections", "sessions", "subscriptions", "topics", "retained"):
        assert s[k + ".max"] >= s[k + ".count"], s
    # high-water marks are sampled by the 100 ms housekeeping sweep
    time.sleep(0.35)
    c2.disconnect()
    wait_for(lambda: adm.ok("GET", "/api/v4/stats")["data"][0]["connections.count"] == 1)
    s = adm.ok("GET", "/api/v4/stats")["data"][0]
    assert s["connections.max"] == 2 and s["sessions.max"] == 2, s
    assert s["subscriptions.count"] == 2 and s["subscriptions.max"] == 3, s
    assert s["sessions.count"] == 1


# --- clients ------------------------------------------------------------------------------

def test_clients_paging(node, make_client, uid):
    b, adm = node
    ids = {"pg%d-%s" % (i, uid) for i in range(5)}
    for cid in sorted(ids):
        make_client(b, client_id=cid)
    seen = []
    for page, (n, hasnext) in enumerate([(2, True), (2, True), (1, False), (0, False)], start=1):
        doc = adm.ok("GET", "/api/v4/clients?_page=%d&_limit=2" % page)
        assert len(doc["data"]) == n, doc
        assert doc["meta"] == {"page": page, "limit": 2, "count": 5, "hasnext": hasnext}, doc
        seen += [c["clientid"] for c in doc["data"]]
    assert sorted(seen) == sorted(ids)
    doc = adm.ok("GET", "/api/v4/clients")
    assert sorted(c["clientid"] for c in doc["data"]) == sorted(ids)
    assert doc["meta"]["count"] == 5 and doc["meta"]["hasnext"] is False and doc["meta"]["page"] == 1
    doc = adm.ok("GET", "/api/v4/clients?_limit=5")
    assert len(doc["data"]) == 5 and doc["meta"]["hasnext"] is False


@pytest.mark.parametrize("query", ["_page=0", "_limit=0", "_limit=abc", "_page=-1", "_page=1.5", "_limit=",
                                   "_limit=1000001"])
def test_clients_bad_paging_gets_400(node, query):
    _, adm = node
    assert_v4_error(adm.get("/api/v4/clients?" + query), 400, "_page|_limit")


def test_client_details_connected(node, make_client, make_raw, uid):
    b, adm = node
    c5 = make_client(b, client_id="d5-" + uid, keepalive=30, username="u1", password="p",
                     props={"SessionExpiryInterval": 120})
    c5.subscribe([("det/a", 1), ("det/b/#", 2)])
    c4 = make_client(b, client_id="d4-" + uid, version=4, keepalive=45)
    i = client_info(adm, "d5-" + uid)
    assert i["clientid"] == "d5-" + uid
    assert i["username"] == "u1"
    assert i["connected"] is True
    assert i["ip_address"] == "127.0.0.1"
    assert i["port"] == c5.c.socket().getsockname()[1]
    assert i["proto_ver"] == 5 and i["proto_name"] == "MQTT"
    assert i["keepalive"] == 30
    assert i["subscriptions_cnt"] == 2
    assert i["expiry_interval"] == 120
    assert i["mqueue_len"] == 0 and i["inflight"] == 0
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", i["connected_at"]), i
    assert i["node"] == "tidemq@127.0.0.1"
    j = client_info(adm, "d4-" + uid)
    assert j["proto_ver"] == 4 and j["username"] is None and j["keepalive"] == 45 and j["connected"] is True
    assert j["port"] == c4.c.socket().getsockname()[1]
    assert client_info(adm, "nobody-" + uid) is None
    # the list has the same rows
    rows = {c["clientid"]: c for c in adm.ok("GET", "/api/v4/clients")["data"]}
    assert rows["d5-" + uid] == i


def test_client_details_offline_persistent_session(node, make_client, make_raw, uid):
    b, adm = node
    cid = "off-" + uid
    raw = make_raw(b, client_id=cid, props={"SessionExpiryInterval": 300}, keepalive=21)
    raw.subscribe("off/t", qos=1)
    raw_port = raw.sock.getsockname()[1]
    live = client_info(adm, cid)
    assert live["disconnected_at"] is None and live["clean_start"] is True, live
    raw.disconnect()
    wait_for(lambda: client_info(adm, cid)["connected"] is False, message="session still connected")
    pub = make_client(b, client_id="offpub-" + uid)
    pub.publish("off/t", b"1", qos=1)
    pub.publish("off/t", b"2", qos=1)
    i = client_info(adm, cid)
    assert i["connected"] is False
    assert i["mqueue_len"] == 2
    assert i["subscriptions_cnt"] == 1
    assert i["expiry_interval"] == 300
    assert i["proto_ver"] == 5
    # what the last connection was, kept while the session waits
    assert (i["ip_address"], i["port"], i["keepalive"]) == ("127.0.0.1", raw_port, 21), i
    assert i["connected_at"] == live["connected_at"] and i["created_at"] == live["created_at"], i
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", i["disconnected_at"]), i
    doc = adm.ok("GET", "/api/v4/clients")
    assert {c["clientid"]: c["connected"] for c in doc["data"]} == {cid: False, "offpub-" + uid: True}


def test_client_id_with_reserved_characters(node, make_client, uid):
    b, adm = node
    cid = "dev/1 x%?#&=+-" + uid
    make_client(b, client_id=cid)
    i = client_info(adm, cid)
    assert i and i["clientid"] == cid
    adm.ok("DELETE", "/api/v4/clients/" + quote(cid))
    assert client_info(adm, cid) is None


# --- kick -------------------------------------------------------------------------------------

def test_kick_v5_client_gets_disconnect_0x98_and_session_ends(node, make_raw, make_client, uid):
    b, adm = node
    cid = "kick5-" + uid
    raw = make_raw(b, client_id=cid, props={"SessionExpiryInterval": 300})
    raw.subscribe("kick/t", qos=1)
    assert adm.ok("DELETE", "/api/v4/clients/" + cid) == {"code": 0}
    pkts = raw.wait_closed(5)
    assert [(p.type, p.rc) for p in pkts] == [(mqttraw.DISCONNECT, 0x98)], pkts
    assert client_info(adm, cid) is None
    assert adm.ok("GET", "/api/v4/subscriptions")["data"] == []
    assert adm.ok("GET", "/api/v4/nodes")["data"][0]["connections"] == 0
    # the session is gone: no session present, nothing queued
    again = make_raw(b, client_id=cid, clean=False, props={"SessionExpiryInterval": 300})
    assert again.connack.session_present is False
    assert_v4_error(adm.delete("/api/v4/clients/" + cid + "-other"), 404, "client not found")


def test_kick_v311_client_is_closed(node, make_client, uid):
    b, adm = node
    c = make_client(b, client_id="kick4-" + uid, version=4, clean=False)
    adm.ok("DELETE", "/api/v4/clients/kick4-" + uid)
    c.wait_disconnected(5)
    assert client_info(adm, "kick4-" + uid) is None


def test_kick_offline_session_discards_it(node, make_raw, uid):
    b, adm = node
    cid = "kickoff-" + uid
    raw = make_raw(b, client_id=cid, props={"SessionExpiryInterval": 300})
    raw.disconnect()
    wait_for(lambda: client_info(adm, cid)["connected"] is False)
    adm.ok("DELETE", "/api/v4/clients/" + cid)
    assert client_info(adm, cid) is None
    again = make_raw(b, client_id=cid, clean=False, props={"SessionExpiryInterval": 300})
    assert again.connack.session_present is False


def test_kick_unknown_client_gets_404(node):
    _, adm = node
    assert_v4_error(adm.delete("/api/v4/clients/never-seen"), 404, "^client not found$")


# --- subscriptions ------------------------------------------------------------------------------

def test_subscriptions_list_and_paging(node, make_client, make_raw, uid):
    b, adm = node
    a = make_client(b, client_id="sa-" + uid)
    a.subscribe([("sub/1", 1), ("sub/2", 0)])
    c = make_client(b, client_id="sb-" + uid, version=4)
    c.subscribe("sub/#", qos=2)
    expected = {("sa-" + uid, "sub/1", 1), ("sa-" + uid, "sub/2", 0), ("sb-" + uid, "sub/#", 2)}
    doc = adm.ok("GET", "/api/v4/subscriptions")
    assert {(s["clientid"], s["topic"], s["qos"]) for s in doc["data"]} == expected
    assert all(s["node"] == "tidemq@127.0.0.1" for s in doc["data"])
    assert doc["meta"]["count"] == 3 and doc["meta"]["hasnext"] is False
    p1 = adm.ok("GET", "/api/v4/subscriptions?_page=1&_limit=2")
    p2 = adm.ok("GET", "/api/v4/subscriptions?_page=2&_limit=2")
    assert len(p1["data"]) == 2 and p1["meta"]["hasnext"] is True
    assert len(p2["data"]) == 1 and p2["meta"]["hasnext"] is False
    assert {(s["clientid"], s["topic"], s["qos"]) for s in p1["data"] + p2["data"]} == expected
    # an offline persistent session keeps its subscriptions; unsubscribe removes one
    raw = make_raw(b, client_id="sc-" + uid, props={"SessionExpiryInterval": 300})
    raw.subscribe("sub/off", qos=1)
    raw.disconnect()
    a.unsubscribe("sub/2")
    rows = {(s["clientid"], s["topic"], s["qos"]) for s in adm.ok("GET", "/api/v4/subscriptions")["data"]}
    assert rows == expected - {("sa-" + uid, "sub/2", 0)} | {("sc-" + uid, "sub/off", 1)}
    assert_v4_error(adm.get("/api/v4/subscriptions?_limit=x"), 400)


def test_subscriptions_meta_count_is_the_total(node, make_client, uid):
    b, adm = node
    a = make_client(b, client_id="cnt-" + uid)
    a.subscribe([("cnt/%d" % i, 0) for i in range(5)])
    doc = adm.ok("GET", "/api/v4/subscriptions?_page=1&_limit=2")
    assert doc["meta"]["count"] == 5, doc["meta"]


# --- publish ------------------------------------------------------------------------------------

def test_publish_plain_qos1_reaches_subscriber(node, make_client, uid):
    b, adm = node
    sub = make_client(b, client_id="psub-" + uid)
    sub.subscribe("pub/" + uid + "/#", qos=1)
    assert adm.ok("POST", "/api/v4/mqtt/publish",
                  {"topic": "pub/%s/x" % uid, "payload": "h\u00e9llo", "qos": 1}) == {"code": 0}
    m = sub.messages.get()
    assert m.topic == "pub/%s/x" % uid and m.payload == "h\u00e9llo".encode() and m.qos == 1 and not m.retain
    # defaults: plain, QoS 0, no retain, empty payload
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": "pub/%s/y" % uid})
    m = sub.messages.get()
    assert m.topic == "pub/%s/y" % uid and m.payload == b"" and m.qos == 0


def test_publish_base64_binary_payload(node, make_client, uid):
    b, adm = node
    sub = make_client(b, client_id="b64-" + uid, version=4)
    sub.subscribe("b64/" + uid, qos=1)
    for payload in (bytes(range(256)), b"A", b"AB", b"ABC", b"\x00"):  # 0, 1 and 2 '=' of padding
        adm.ok("POST", "/api/v4/mqtt/publish",
               {"topic": "b64/" + uid, "payload": base64.b64encode(payload).decode(), "encoding": "base64",
                "qos": 1})
        m = sub.messages.get()
        assert m.payload == payload and m.qos == 1


def test_publish_qos2_delivered_at_subscription_qos(node, make_client, uid):
    b, adm = node
    s1 = make_client(b, client_id="q2a-" + uid)
    s1.subscribe("q2/" + uid, qos=2)
    s0 = make_client(b, client_id="q2b-" + uid)
    s0.subscribe("q2/" + uid, qos=0)
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": "q2/" + uid, "payload": "x", "qos": 2})
    assert s1.messages.get().qos == 2
    assert s0.messages.get().qos == 0


def test_publish_retained(node, make_client, uid):
    b, adm = node
    topic = "ret/" + uid
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": topic, "payload": "kept", "qos": 1, "retain": True})
    assert adm.ok("GET", "/api/v4/stats")["data"][0]["retained.count"] == 1
    late = make_client(b, client_id="late-" + uid)
    late.subscribe(topic, qos=1)
    m = late.messages.get()
    assert m.payload == b"kept" and m.retain and m.qos == 1
    # an empty retained message clears it
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": topic, "payload": "", "retain": True})
    assert late.messages.get().payload == b""
    wait_for(lambda: adm.ok("GET", "/api/v4/stats")["data"][0]["retained.count"] == 0)
    later = make_client(b, client_id="later-" + uid)
    later.subscribe(topic, qos=1)
    assert later.messages.none_within(0.3) == []


def test_publish_reaches_offline_persistent_session(node, make_raw, uid):
    b, adm = node
    cid = "pq-" + uid
    raw = make_raw(b, client_id=cid, props={"SessionExpiryInterval": 300})
    raw.subscribe("pq/" + uid, qos=1)
    raw.disconnect()
    wait_for(lambda: client_info(adm, cid)["connected"] is False)
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": "pq/" + uid, "payload": "queued", "qos": 1})
    assert client_info(adm, cid)["mqueue_len"] == 1
    back = make_raw(b, client_id=cid, clean=False, props={"SessionExpiryInterval": 300})
    assert back.connack.session_present is True
    p = back.expect(mqttraw.PUBLISH)
    assert p.payload == b"queued" and p.qos == 1


@pytest.mark.parametrize("body,message", [
    ({}, "topic"),
    ({"topic": 5}, "topic"),
    ({"topic": ""}, "topic"),
    ({"topic": "a/+"}, "topic"),
    ({"topic": "a/#"}, "topic"),
    ({"topic": "a", "qos": 3}, "qos"),
    ({"topic": "a", "qos": -1}, "qos"),
    ({"topic": "a", "qos": 1.5}, "qos"),
    ({"topic": "a", "qos": 1e300}, "qos"),
    ({"topic": "a", "encoding": "hex"}, "encoding"),
    ({"topic": "a", "encoding": "base64", "payload": "!!!"}, "base64"),
    ({"topic": "a", "encoding": "base64", "payload": "QQ=Z"}, "base64"),
    ([], "object"),
    ("\"a string\"", "object"),
    ({"topic": "a", "qos": "1"}, None),
    ({"topic": "a", "payload": 123}, None),
    ({"topic": "a", "retain": "yes"}, None),
], ids=["empty", "topic-number", "topic-empty", "topic-plus", "topic-hash", "qos3", "qos-neg", "qos-fraction",
        "qos-huge", "encoding",
        "bad-base64", "bad-padding", "array", "string", "qos-string", "payload-number", "retain-string"])
def test_bad_publish_bodies_get_400(node, make_client, uid, body, message):
    b, adm = node
    sub = make_client(b, client_id="bad-" + uid)
    sub.subscribe("#", qos=1)
    r = adm.request("POST", "/api/v4/mqtt/publish", body)
    assert_v4_error(r, 400, message)
    assert sub.messages.none_within(0.2) == []


def test_publish_respects_node_limits(admin_node, make_client, uid):
    _, adm = admin_node(settings={"mqtt.retain_available": False, "mqtt.max_qos_allowed": 1})
    assert_v4_error(adm.post("/api/v4/mqtt/publish", {"topic": "a", "retain": True}), 400, "retain")
    assert_v4_error(adm.post("/api/v4/mqtt/publish", {"topic": "a", "qos": 2}), 400, "qos")
    assert adm.ok("POST", "/api/v4/mqtt/publish", {"topic": "a", "qos": 1})


def test_publish_binary_safe_topic_and_unicode(node, make_client, uid):
    b, adm = node
    topic = "uni/\u00fc\u00f1\u00ee/" + uuid.uuid4().hex[:6]
    sub = make_client(b, client_id="uni-" + uid)
    sub.subscribe("uni/#", qos=1)
    adm.ok("POST", "/api/v4/mqtt/publish", {"topic": topic, "payload": "\u2603", "qos": 1})
    m = sub.messages.get()
    assert m.topic == topic and m.payload == "\u2603".encode()


# --- HTTPS ---------------------------------------------------------------------------

def test_https_listener_serves_the_api_with_auth(broker_factory, tmp_path):
    import ssl
    import subprocess
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    port = free_port()
    b = broker_factory(settings={"management.listener.https.bind": "127.0.0.1:%d" % port,
                                 "management.listener.https.certfile": str(cert),
                                 "management.listener.https.keyfile": str(key)})
    assert wait_admin_listening(b, port)
    ctx = ssl.create_default_context(cafile=str(cert))

    def get(auth):
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
        try:
            headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
            c.request("GET", "/api/v4/nodes", headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    status, body = get("%s:%s" % (ADMIN_USER, ADMIN_PASSWORD))
    assert status == 200 and json.loads(body)["data"][0]["node_status"] == "Running"
    assert get(None)[0] == 401
    # a client that does not trust the certificate cannot talk to it
    with pytest.raises(ssl.SSLError):
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ssl.create_default_context())
        try:
            c.request("GET", "/api/v4/nodes")
        finally:
            c.close()


def test_a_node_with_clustering_off_is_a_cluster_of_one(node, make_client, uid):
    b, adm = node
    [me] = adm.ok("GET", "/api/v4/nodes")["data"]
    name = me["node"]
    assert adm.ok("GET", "/api/v4/cluster")["data"] == {"running_nodes": [name], "stopped_nodes": []}
    assert adm.ok("GET", "/api/v4/nodes/" + quote(name))["data"]["node"] == name
    assert_v4_error(adm.get("/api/v4/nodes/other%40127.0.0.9"), 404, "node not found")
    assert_v4_error(adm.post("/api/v4/cluster/join", {"node": "other@127.0.0.9"}), 409, "^clustering is off on this node")
    assert_v4_error(adm.post("/api/v4/cluster/leave", {}), 409, "^clustering is off on this node")

    cid = "lone-" + uid
    c = make_client(b, client_id=cid, clean=False, props={"SessionExpiryInterval": 300})
    c.subscribe("lone/" + uid, qos=1)
    routes = adm.ok("GET", "/api/v4/routes")["data"]
    assert {"topic": "lone/" + uid, "node": name} in routes, routes
    c.disconnect()
    assert client_info(adm, cid)["connected"] is False
    # An offline session cannot move: to this node it is refused with the reason, elsewhere there is no node.
    assert_v4_error(adm.post("/api/v4/clients/%s/migrate" % quote(cid), {"node": name}), 409, "^clustering is off")
    assert_v4_error(adm.post("/api/v4/clients/%s/migrate" % quote(cid), {"node": "other@127.0.0.9"}), 404,
                    "node not found")
    assert client_info(adm, cid)["connected"] is False  # still here
    assert adm.ok("DELETE", "/api/v4/clients/" + quote(cid)) == {"code": 0}
    assert client_info(adm, cid) is None
    assert_v4_error(adm.delete("/api/v4/clients/" + quote(cid)), 404, "client not found")
