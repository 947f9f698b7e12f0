"""tidemq_ctl end to end: every command against a real node with real
MQTT clients, its output and exit codes (0 ok, 1 command failed, 2 usage), and
how it finds the node: --url/--user/--password > TIDEMQ_CTL_* > -c config file.

$TIDEMQ_CTL_BIN (default <repo>/build/tools/ctl/tidemq_ctl) is copied once per
session, like the broker, so that a rebuild during the run cannot break it.
"""

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import time

import pytest

from adminhelpers import ctl_bin, start_with_admin_api  # noqa: E402,F401  (ctl_bin: a fixture)

import mqttraw
from conftest import free_port
from mqtthelpers import wait_for

pytestmark = pytest.mark.tidemq_only(reason="tidemq_ctl talks to tidemq's admin API")

RUN_TIMEOUT = 15

CLIENT_LINE = re.compile(
    r"^Client\((?P<id>.+), username=(?P<username>[^,]*), peername=(?P<peer>[^,]*), "
    r"clean_start=(?P<clean_start>true|false), proto_ver=(?P<ver>\d+), "
    r"keepalive=(?P<keepalive>\d+), session_expiry_interval=(?P<expiry>\d+), subscriptions=(?P<subs>\d+), "
    r"inflight=(?P<inflight>\d+), mqueue_len=(?P<mqueue>\d+), connected=(?P<connected>true|false), "
    r"created_at=(?P<created_at>[^,]*), connected_at=(?P<connected_at>[^,)]*)"
    r"(, disconnected_at=(?P<disconnected_at>[^)]*))?\)$")
TIME = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"


# --- running the CLI -------------------------------------------------------------

class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    @property
    def lines(self):
        return self.out.splitlines()

    def __repr__(self):
        return "<rc=%d stdout=%r stderr=%r>" % (self.rc, self.out[-800:], self.err[-800:])


@pytest.fixture
def ctl(ctl_bin, tmp_workdir):
    """ctl(*args, env=None, cwd=None) -> Result. The environment has no TIDEMQ_*
    variables except those in env; cwd defaults to an empty directory (so no
    conf/tidemq.conf is found unless a test puts one there)."""
    empty = tmp_workdir / "ctl-cwd"
    empty.mkdir(exist_ok=True)

    def run(*args, env=None, cwd=None, timeout=RUN_TIMEOUT):
        e = {k: v for k, v in os.environ.items() if not k.startswith("TIDEMQ_")}
        e.update(env or {})
        t0 = time.monotonic()
        r = subprocess.run([str(ctl_bin)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           capture_output=True, env=e, cwd=str(cwd or empty), timeout=timeout)
        return Result(r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"),
                      time.monotonic() - t0)

    return run


def ok(r):
    assert r.rc == 0, r
    assert r.err == "", r
    return r


def failed(r, message=None):
    """Exit 1, nothing on stdout, one 'Error: ...' line on stderr."""
    assert r.rc == 1, r
    assert r.out == "", r
    assert r.err.startswith("Error: ") and r.err.endswith("\n") and r.err.count("\n") == 1, r
    if message is not None:
        assert re.search(message, r.err), r
    return r


def usage(r):
    assert r.rc == 2, r
    assert r.err.strip(), r
    return r


# --- the node ------------------------------------------------------------------

class Node:
    def __init__(self, broker, port, user, password):
        self.broker, self.port, self.user, self.password = broker, port, user, password
        self.url = "http://127.0.0.1:%d" % port

    @property
    def flags(self):
        return ["--url", self.url, "--user", self.user, "--password", self.password]

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            auth = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
            c.request(method, path, body=None if body is None else json.dumps(body),
                      headers={"Authorization": "Basic " + auth, "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        finally:
            c.close()


@pytest.fixture
def start_node(broker_factory):
    def start(settings=None, **kw):
        b, port, s = start_with_admin_api(broker_factory, settings, **kw)
        return Node(b, port, s.get("management.default_user", "admin"), s.get("management.default_password", "public"))

    return start


@pytest.fixture
def node(start_node):
    return start_node()


def nodes_info(node):
    status, doc = node.api("GET", "/api/v4/nodes")
    assert status == 200, doc
    return doc["data"][0]


# --- status ----------------------------------------------------------------------

def test_status(ctl, node, make_client, make_raw, uid):
    make_client(node.broker, client_id="st1-" + uid)
    make_client(node.broker, client_id="st2-" + uid, version=4)
    off = make_raw(node.broker, client_id="st3-" + uid, props={"SessionExpiryInterval": 60})
    off.disconnect()
    wait_for(lambda: nodes_info(node)["connections"] == 2)
    r = ok(ctl("status", *node.flags))
    version = nodes_info(node)["version"]
    assert r.lines[0] == "Node 'tidemq@127.0.0.1' %s is started" % version, r
    assert re.match(r"^uptime      : (\d+ minutes, )?\d+ seconds$", r.lines[1]), r
    assert r.lines[2:] == ["connections : 2", "sessions    : 3"], r


def test_status_shows_node_name(ctl, start_node):
    n = start_node(settings={"node.name": "ctl-node@127.0.0.1"})
    assert ok(ctl("status", *n.flags)).lines[0].startswith("Node 'ctl-node@127.0.0.1' ")


def test_global_options_may_follow_the_command(ctl, node):
    assert ok(ctl("status", "--url", node.url)).lines[0].endswith(" is started")
    assert ok(ctl("clients", "list", "--url", node.url, "--user", "admin")).out == ""


# --- clients ---------------------------------------------------------------------

def test_clients_list(ctl, node, make_client, make_raw, uid):
    assert ok(ctl("clients", "list", *node.flags)).out == ""  # no clients: no output
    c5 = make_client(node.broker, client_id="cl5-" + uid, username="u1", password="x", keepalive=30,
                     props={"SessionExpiryInterval": 120})
    c5.subscribe([("cl/a", 1), ("cl/b", 0)])
    c4 = make_client(node.broker, client_id="cl4-" + uid, version=4, keepalive=45)
    off = make_raw(node.broker, client_id="cloff-" + uid, props={"SessionExpiryInterval": 300})
    off.subscribe("cl/off", qos=1)
    off_port = off.sock.getsockname()[1]
    off.disconnect()
    wait_for(lambda: nodes_info(node)["connections"] == 2)
    c4.publish("cl/off", b"queued", qos=1)

    r = ok(ctl("clients", "list", *node.flags))
    rows = {}
    for line in r.lines:
        m = CLIENT_LINE.match(line)
        assert m, "not an emqx_ctl-style client line: %r" % line
        rows[m["id"]] = m.groupdict()
    assert set(rows) == {"cl5-" + uid, "cl4-" + uid, "cloff-" + uid}, r

    a = rows["cl5-" + uid]
    assert a["username"] == "u1"
    assert a["peer"] == "127.0.0.1:%d" % c5.c.socket().getsockname()[1]
    assert (a["ver"], a["keepalive"], a["expiry"], a["subs"], a["connected"]) == ("5", "30", "120", "2", "true")
    assert re.match(TIME, a["connected_at"]) and re.match(TIME, a["created_at"]), a
    assert a["clean_start"] == "true" and a["disconnected_at"] is None, a
    b = rows["cl4-" + uid]
    assert b["username"] == "-" and b["ver"] == "4" and b["keepalive"] == "45" and b["connected"] == "true"
    c = rows["cloff-" + uid]
    assert (c["connected"], c["subs"], c["mqueue"], c["expiry"]) == ("false", "1", "1", "300")
    # a disconnected client: where it was and when it went
    assert c["peer"] == "127.0.0.1:%d" % off_port and re.match(TIME, c["disconnected_at"]), c


def test_clients_show(ctl, node, make_client, uid):
    c = make_client(node.broker, client_id="show-" + uid, username="sh")
    r = ok(ctl("clients", "show", "show-" + uid, *node.flags))
    assert len(r.lines) == 1
    m = CLIENT_LINE.match(r.lines[0])
    assert m and m["id"] == "show-" + uid and m["username"] == "sh", r
    assert m["peer"] == "127.0.0.1:%d" % c.c.socket().getsockname()[1]
    failed(ctl("clients", "show", "nobody-" + uid, *node.flags), "^Error: client not found$")


def test_clients_show_and_kick_with_reserved_characters(ctl, node, make_client, uid):
    cid = "a/b c%d?#&" + uid
    c = make_client(node.broker, client_id=cid)
    assert CLIENT_LINE.match(ok(ctl(*node.flags, "clients", "show", "--", cid)).out.strip())["id"] == cid
    assert ok(ctl("clients", "kick", cid, *node.flags)).out == "ok\n"
    c.wait_disconnected()


def test_clients_kick(ctl, node, make_raw, uid):
    cid = "kick-" + uid
    raw = make_raw(node.broker, client_id=cid, props={"SessionExpiryInterval": 300})
    raw.subscribe("kick/t", qos=1)
    r = ok(ctl("clients", "kick", cid, *node.flags))
    assert r.out == "ok\n"
    pkts = raw.wait_closed(5)
    assert [(p.type, p.rc) for p in pkts] == [(mqttraw.DISCONNECT, 0x98)], pkts
    # the session is gone
    failed(ctl("clients", "show", cid, *node.flags), "^Error: client not found$")
    failed(ctl("clients", "kick", cid, *node.flags), "^Error: client not found$")
    assert ok(ctl("clients", "list", *node.flags)).out == ""


# --- api-keys --------------------------------------------------------------------

def test_api_keys(ctl, node):
    r = ok(ctl("api-keys", "add", "ci", "--description", "CI pipeline", *node.flags))
    assert len(r.lines) == 2, r
    assert r.lines[0] == "key: ci"
    m = re.match(r"^secret: (\S+)$", r.lines[1])
    assert m, r
    secret = m[1]
    ok(ctl("api-keys", "add", "ops", *node.flags))

    r = ok(ctl("api-keys", "list", *node.flags))
    assert len(r.lines) == 2, r
    assert re.match(r"^key: ci, description: CI pipeline, created_at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r.lines[0]), r
    assert re.match(r"^key: ops, description: , created_at: \S+$", r.lines[1]), r
    assert secret not in r.out

    # the key is a credential for the CLI itself
    assert ok(ctl("status", "--url", node.url, "--user", "ci", "--password", secret)).lines[0].endswith("is started")
    failed(ctl("api-keys", "add", "ci", *node.flags), "^Error: key already exists$")
    failed(ctl("api-keys", "add", "bad:key", *node.flags), "^Error: key must be")

    assert ok(ctl("api-keys", "delete", "ci", *node.flags)).out == "ok\n"
    failed(ctl("api-keys", "delete", "ci", *node.flags), "^Error: API key not found$")
    failed(ctl("status", "--url", node.url, "--user", "ci", "--password", secret), "authentication failed as 'ci'")
    assert [l.split(",")[0] for l in ok(ctl("api-keys", "list", *node.flags)).lines] == ["key: ops"]


# --- users (MQTT password authentication) ------------------------------------------

@pytest.fixture
def users_node(start_node, tmp_workdir):
    passwd = tmp_workdir / "passwd"
    passwd.write_text("")
    n = start_node(settings={"authentication.allow_anonymous": False,
                             "authentication.password_file": str(passwd)})
    status, _ = n.api("GET", "/api/v4/auth_username")
    if status == 404:
        pytest.skip("the node has no /api/v4/auth_username yet (MQTT user management is being built in src/auth)")
    return n


def mqtt_login(broker, user, password, uid):
    """CONNACK reason code of an MQTT 5 CONNECT with these credentials."""
    c = mqttraw.RawClient(broker.host, broker.port, version=5)
    try:
        return c.connect("login-" + uid, username=user, password=password.encode()).rc
    finally:
        c.close()


def test_users(ctl, users_node, uid):
    n = users_node
    assert ok(ctl("users", "list", *n.flags)).out == ""
    assert ok(ctl("users", "add", "alice", "pw-1", *n.flags)).out == "ok\n"
    assert ok(ctl("users", "add", "bob", "pw-2", *n.flags)).out == "ok\n"
    assert sorted(ok(ctl("users", "list", *n.flags)).lines) == ["alice", "bob"]
    wait_for(lambda: mqtt_login(n.broker, "alice", "pw-1", uid) == 0, message="alice cannot log in")
    assert mqtt_login(n.broker, "alice", "wrong", uid) == 0x86

    assert ok(ctl("users", "passwd", "alice", "pw-new", *n.flags)).out == "ok\n"
    wait_for(lambda: mqtt_login(n.broker, "alice", "pw-new", uid) == 0, message="new password not accepted")
    assert mqtt_login(n.broker, "alice", "pw-1", uid) == 0x86

    assert ok(ctl("users", "delete", "bob", *n.flags)).out == "ok\n"
    assert ok(ctl("users", "list", *n.flags)).lines == ["alice"]
    wait_for(lambda: mqtt_login(n.broker, "bob", "pw-2", uid) == 0x86, message="deleted user still logs in")


def test_users_errors(ctl, users_node):
    n = users_node
    ok(ctl("users", "add", "carol", "pw", *n.flags))
    failed(ctl("users", "add", "carol", "other", *n.flags))
    failed(ctl("users", "passwd", "nobody", "pw", *n.flags))
    failed(ctl("users", "delete", "nobody", *n.flags))
    usage(ctl("users", "add", "onlyname", *n.flags))


def test_users_without_user_api(ctl, node):
    status, _ = node.api("GET", "/api/v4/auth_username")
    if status != 404:
        pytest.skip("the node has /api/v4/auth_username")
    failed(ctl("users", "list", *node.flags), "^Error: GET /api/v4/auth_username not found on %s: the node does "
                                              "not provide this API$" % re.escape(node.url))


# --- finding the node: flags, environment, config file ----------------------------------

def test_wrong_credentials(ctl, node):
    r = failed(ctl("status", "--url", node.url, "--password", "wrong"))
    assert r.err == ("Error: authentication failed as 'admin' at %s (check --user/--password, "
                     "TIDEMQ_CTL_USER/TIDEMQ_CTL_PASSWORD or management.default_user/default_password)\n"
                     % node.url), r


def test_environment_variables(ctl, start_node):
    n = start_node(settings={"management.default_user": "ops", "management.default_password": "s3cret"})
    env = {"TIDEMQ_CTL_URL": n.url, "TIDEMQ_CTL_USER": "ops", "TIDEMQ_CTL_PASSWORD": "s3cret"}
    assert ok(ctl("status", env=env)).lines[0].endswith(" is started")
    # flags win over the environment
    dead = "http://127.0.0.1:%d" % free_port()
    assert ok(ctl("status", "--url", n.url, env=dict(env, TIDEMQ_CTL_URL=dead))).rc == 0
    assert ok(ctl("status", "--password", "s3cret", env=dict(env, TIDEMQ_CTL_PASSWORD="bad"))).rc == 0
    failed(ctl("status", "--password", "bad", env=env), "authentication failed as 'ops'")
    failed(ctl("status", "--user", "admin", env=env), "authentication failed as 'admin'")


def write_conf(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_file(ctl, start_node, tmp_workdir):
    n = start_node(settings={"management.default_user": "ops", "management.default_password": "pw-123"})
    # dotted keys, a wildcard bind (the CLI connects to 127.0.0.1)
    conf = write_conf(tmp_workdir / "c1" / "node.conf",
                      'node.name = "x@127.0.0.1"\n'
                      'management.listener.http.bind = "0.0.0.0:%d"\n'
                      'management.default_user = "ops"\n'
                      'management.default_password = "pw-123"\n' % n.port)
    assert ok(ctl("-c", conf, "status")).lines[0].endswith(" is started")
    assert ok(ctl("--config", conf, "clients", "list")).out == ""
    # the same as tables
    conf2 = write_conf(tmp_workdir / "c2" / "node.conf",
                       '[management]\ndefault_user = "ops"\ndefault_password = "pw-123"\n'
                       '[management.listener.http]\nbind = "127.0.0.1:%d"\n' % n.port)
    assert ok(ctl("status", "-c", conf2)).rc == 0
    # a bare port means every address too
    conf3 = write_conf(tmp_workdir / "c3" / "node.conf",
                       'management.listener.http.bind = "%d"\nmanagement.default_user = "ops"\n'
                       'management.default_password = "pw-123"\n' % n.port)
    assert ok(ctl("status", "-c", conf3)).rc == 0
    # precedence: environment and flags over the file
    failed(ctl("-c", conf, "status", "--password", "bad"), "authentication failed as 'ops'")
    failed(ctl("-c", conf, "status", env={"TIDEMQ_CTL_USER": "admin"}), "authentication failed as 'admin'")
    dead = "http://127.0.0.1:%d" % free_port()
    failed(ctl("-c", conf, "status", env={"TIDEMQ_CTL_URL": dead}), "cannot reach")
    assert ok(ctl("-c", conf, "status", "--url", n.url, env={"TIDEMQ_CTL_URL": dead})).rc == 0


def test_default_config_file_is_conf_tidemq_conf(ctl, start_node, tmp_workdir):
    n = start_node(settings={"management.default_password": "pw-def"})
    home = tmp_workdir / "install"
    write_conf(home / "conf" / "tidemq.conf",
               'management.listener.http.bind = "127.0.0.1:%d"\nmanagement.default_password = "pw-def"\n' % n.port)
    assert ok(ctl("status", cwd=home)).lines[0].endswith(" is started")


def test_config_file_without_management_keys_uses_node_defaults(ctl, node, tmp_workdir):
    # no management.* keys: admin / public (the node's defaults); the address comes from the environment
    conf = write_conf(tmp_workdir / "c4" / "node.conf", 'node.name = "x@127.0.0.1"\n')
    assert ok(ctl("-c", conf, "status", env={"TIDEMQ_CTL_URL": node.url})).rc == 0


def test_config_file_errors(ctl, tmp_workdir):
    usage(ctl("-c", tmp_workdir / "missing.conf", "status"))
    bad = write_conf(tmp_workdir / "bad" / "node.conf", 'management.listener.http.bind = "127.0.0.1:1\n')
    failed(ctl("-c", bad, "status"), "^Error: cannot parse config file .*node.conf line 1")
    off = write_conf(tmp_workdir / "off" / "node.conf", 'management.listener.http.bind = ""\n')
    failed(ctl("-c", off, "status"), "HTTP admin listener is disabled")
    typo = write_conf(tmp_workdir / "typo" / "node.conf", 'management.listener.http.bind = "127.0.0.1:http"\n')
    failed(ctl("-c", typo, "status"), "bad management.listener.http.bind")
    wrong_type = write_conf(tmp_workdir / "wt" / "node.conf", "management.default_password = 12\n")
    failed(ctl("-c", wrong_type, "status"), "must be a string")


def test_ipv6_node(ctl, broker_factory, tmp_workdir):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    b = broker_factory(settings={"management.listener.http.bind": "[::1]:%d" % port})

    def listening():
        try:
            socket.create_connection(("::1", port), timeout=0.25).close()
            return True
        except OSError:
            return False

    wait_for(listening, message="admin API not listening on [::1]:%d" % port)
    assert ok(ctl("status", "--url", "http://[::1]:%d" % port)).lines[0].endswith(" is started")
    # a wildcard IPv6 bind in the config file means ::1
    conf = write_conf(tmp_workdir / "v6" / "node.conf", 'management.listener.http.bind = "[::]:%d"\n' % port)
    assert ok(ctl("-c", conf, "clients", "list")).out == ""
    assert b.alive()


# --- failures and usage errors --------------------------------------------------------

def test_unreachable_node(ctl):
    port = free_port()
    r = failed(ctl("status", "--url", "http://127.0.0.1:%d" % port))
    assert r.err == "Error: cannot reach http://127.0.0.1:%d: Connection refused\n" % port
    assert r.seconds < 5
    failed(ctl("clients", "list", "--url", "127.0.0.1:%d" % port), "^Error: cannot reach http://127.0.0.1:%d: " % port)


def test_node_that_does_not_answer_times_out(ctl):
    # a listening socket nobody accepts from: connect succeeds, no answer ever comes
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        r = failed(ctl("status", "--url", "http://127.0.0.1:%d" % s.getsockname()[1], "--timeout", "0.5"),
                   "no answer within 0.5 s")
        assert r.seconds < 4, r.seconds
    finally:
        s.close()


@pytest.mark.parametrize("url,message", [
    ("https://127.0.0.1:8443", "https URLs are not supported"),
    ("ftp://127.0.0.1:21", "the scheme must be http"),
    ("http://127.0.0.1:99999", "bad port"),
    ("http://:8081", "no host"),
])
def test_bad_url(ctl, url, message):
    failed(ctl("status", "--url", url), message)


@pytest.mark.parametrize("args", [
    [],
    ["foo"],
    ["clients"],
    ["clients", "foo"],
    ["clients", "show"],
    ["clients", "kick", "a", "b"],
    ["users"],
    ["users", "add", "only-name"],
    ["users", "passwd", "only-name"],
    ["users", "delete"],
    ["api-keys"],
    ["api-keys", "add"],
    ["api-keys", "delete"],
    ["status", "--bogus"],
    ["status", "--timeout", "abc"],
    ["status", "--timeout", "0"],
    ["status", "extra"],
], ids=lambda a: " ".join(a) or "no-args")
def test_usage_errors_exit_2(ctl, args):
    # the URL points nowhere: a usage error must be reported before any connection is tried
    r = usage(ctl(*args, env={"TIDEMQ_CTL_URL": "http://127.0.0.1:1"}))
    assert "cannot reach" not in r.err


def test_unknown_command_is_named(ctl):
    assert usage(ctl("frobnicate")).err == "Unknown command: frobnicate\nRun with --help for more information.\n"
    assert usage(ctl("clients", "frob")).err.startswith("Unknown command: frob\n")
    # no command at all: the help, on stderr
    r = usage(ctl())
    assert r.out == "" and "Subcommands:" in r.err and "api-keys" in r.err


def test_help_and_version(ctl):
    r = ok(ctl("--help"))
    for word in ("status", "clients", "users", "api-keys", "--url", "--user", "--password", "--config",
                 "TIDEMQ_CTL_URL"):
        assert word in r.out, word
    assert ok(ctl("clients", "--help")).out.count("kick") >= 1
    assert re.match(r"^tidemq_ctl \d+\.\d+\.\d+$", ok(ctl("--version")).out.strip())
