"""MQTT authorization: [[authorization.rules]], authorization.no_match and
authorization.deny_action, with MQTT 3.1.1 and 5.0 clients.

A denied SUBSCRIBE entry gets SUBACK 0x87 (v5) / 0x80 (3.1.1); a denied PUBLISH gets
PUBACK / PUBREC 0x87 for QoS 1 / 2 (3.1.1 acks carry no reason code: the client gets a
plain ack) and is dropped for QoS 0 — in every case no subscriber receives it; with
deny_action = "disconnect" the client gets DISCONNECT 0x87 (v5) or is closed (3.1.1).
"""

import shutil
import subprocess

import pytest

import mqttraw
from mqtthelpers import wait_for
from test_auth import V311, V5, config_text, password_line, start_with_config, write_users

pytestmark = pytest.mark.tidemq_only(reason="tidemq's authorization rules")

versions = pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])


# PUBACK / PUBREC reason codes of an accepted message: 0, or 0x10 No matching subscribers (v5)
ACCEPTED = (0x00, 0x10)


def denied_suback(version):
    return 0x87 if version == V5 else 0x80


def rule(permission, action, topics, **conditions):
    r = {"permission": permission, "action": action, "topics": list(topics)}
    r.update(conditions)
    return r


def acl_broker(broker_factory, rules, no_match=None, deny_action=None, users=None, passwd=None,
               allow_anonymous=None):
    if users:
        write_users(passwd, users)
    return start_with_config(broker_factory, config_text(
        allow_anonymous=allow_anonymous, password_file=passwd if users else None,
        no_match=no_match, deny_action=deny_action, rules=rules))


@pytest.fixture
def passwd(tmp_workdir):
    return tmp_workdir / "passwd"


def raw(make_raw, broker, version, client_id, **kw):
    return make_raw(broker, version=version, client_id=client_id, **kw)


def sub_rcs(c, *filters, qos=1):
    return c.subscribe([(f, {"qos": qos}) for f in filters]).rcs


def _ack(c, ptype, pid):
    """Read up to the ack of `pid`, acknowledging QoS 1 messages delivered meanwhile (the
    client may be subscribed to what it publishes)."""
    ack, skipped = c.recv_until(lambda p: p.type == ptype and p.pid == pid, 5.0)
    for p in skipped:
        if p.type == mqttraw.PUBLISH and p.qos == 1:
            c.puback(p.pid)
    return ack


def pub_rc(c, topic, qos=1, payload=b"x"):
    """The reason code of the PUBACK (QoS 1) or PUBREC (QoS 2); 0 for a 3.1.1 ack."""
    pid = c.publish(topic, payload, qos=qos)
    if qos == 1:
        return _ack(c, mqttraw.PUBACK, pid).rc
    rec = _ack(c, mqttraw.PUBREC, pid)
    if rec.rc < 0x80:
        c.pubrel(pid)
        _ack(c, mqttraw.PUBCOMP, pid)
    return rec.rc


def assert_open(c):
    c.ping()
    p = c.expect(mqttraw.PINGRESP, 5.0)
    assert p.type == mqttraw.PINGRESP


def next_publish(c, timeout=5.0):
    p, skipped = c.recv_until(lambda p: p.type == mqttraw.PUBLISH, timeout)
    if p.qos == 1:
        c.puback(p.pid)
    return p


# --- deny subscribe -------------------------------------------------------------

@versions
def test_deny_subscribe(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("deny", "subscribe", ["test/nosubscribe"])])
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "test/nosubscribe", "test/other") == [denied_suback(version), 1]
    assert_open(c)
    # the denied subscription does not exist: a message there is not delivered
    pub = raw(make_raw, b, version, uid + "-p")
    pub.publish_acked("test/nosubscribe", b"no", qos=1)
    pub.publish_acked("test/other", b"yes", qos=1)
    p = next_publish(c)
    assert (p.topic, p.payload) == ("test/other", b"yes")


@versions
def test_deny_rule_applies_to_filters_it_covers(broker_factory, make_raw, uid, version):
    """A deny rule for "test/nosubscribe" refuses that filter and the filters it covers,
    not a broader one: "test/#" is allowed (to refuse reading a topic through wildcards,
    deny the wildcards too, or allow explicitly with no_match = "deny")."""
    b = acl_broker(broker_factory, [rule("deny", "subscribe", ["test/private/#"])])
    c = raw(make_raw, b, version, uid)
    d = denied_suback(version)
    assert sub_rcs(c, "test/private/#", "test/private/a/+", "test/private", "test/#", "test/+/a") == [d, d, d, 1, 1]


@versions
def test_deny_subscribe_paho(broker_factory, make_client, uid, version):
    b = acl_broker(broker_factory, [rule("deny", "subscribe", ["test/nosubscribe"])])
    c = make_client(b, client_id=uid, version=version)
    assert c.subscribe("test/nosubscribe", qos=1) == [denied_suback(version)]
    assert c.subscribe("test/fine", qos=1) == [1]


def test_deny_subscribe_mosquitto_sub(broker_factory, uid):
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto-clients missing")
    b = acl_broker(broker_factory, [rule("deny", "subscribe", ["test/nosubscribe"])])
    for v in ("mqttv311", "mqttv5"):
        r = subprocess.run(["mosquitto_sub", "-h", b.host, "-p", str(b.port), "-t", "test/nosubscribe", "-V", v,
                            "-W", "5", "-i", uid], capture_output=True, timeout=10)
        assert b"All subscription requests were denied" in r.stdout + r.stderr, r


# --- deny publish -------------------------------------------------------------------

@versions
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_deny_publish(broker_factory, make_raw, uid, version, qos):
    b = acl_broker(broker_factory, [rule("deny", "publish", ["blocked/#"])])
    sub = raw(make_raw, b, version, uid + "-s")
    assert sub_rcs(sub, "blocked/#", "open/#") == [1, 1]  # subscribing is not denied
    pub = raw(make_raw, b, version, uid + "-p")
    if qos == 0:
        pub.publish("blocked/x", b"denied", qos=0)
    else:
        ack = pub.publish_acked("blocked/x", b"denied", qos=qos)
        assert ack.type == (mqttraw.PUBACK if qos == 1 else (mqttraw.PUBREC if version == V5 else mqttraw.PUBCOMP))
        assert ack.rc == (0x87 if version == V5 else 0)
    assert_open(pub)
    pub.publish_acked("open/barrier", b"barrier", qos=1)
    p = next_publish(sub)
    assert (p.topic, p.payload) == ("open/barrier", b"barrier"), "the denied message was delivered"
    assert sub.recv_all(0.3) == []  # and nothing after it either (bounded check)


def test_deny_publish_mosquitto_pub(broker_factory, uid):
    if shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto-clients missing")
    b = acl_broker(broker_factory, [rule("deny", "publish", ["blocked/#"])])
    r = subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-t", "blocked/x", "-m", "x", "-q", "1",
                        "-V", "mqttv5", "-i", uid], capture_output=True, timeout=10)
    assert b"Not authorized" in r.stdout + r.stderr, r


@versions
def test_action_kinds(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("deny", "publish", ["p/#"]), rule("deny", "subscribe", ["s/#"]),
                                    rule("deny", "all", ["x/#"])])
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "p/1", "s/1", "x/1") == [1, denied_suback(version), denied_suback(version)]
    denied_puback = 0x87 if version == V5 else 0
    assert pub_rc(c, "s/1") in ACCEPTED
    if version == V5:
        assert pub_rc(c, "p/1") == denied_puback
        assert pub_rc(c, "x/1") == denied_puback


# --- deny_action = disconnect -------------------------------------------------------

def assert_disconnected_not_authorized(c, version):
    pkts = c.wait_closed(5.0)
    if version == V5:
        assert pkts and pkts[-1].type == mqttraw.DISCONNECT and pkts[-1].rc == 0x87, pkts
    else:
        assert not any(p.type in (mqttraw.DISCONNECT, mqttraw.SUBACK, mqttraw.PUBACK) for p in pkts), pkts


@versions
@pytest.mark.parametrize("what", ["subscribe", "publish_qos0", "publish_qos1"])
def test_deny_action_disconnect(broker_factory, make_raw, uid, version, what):
    b = acl_broker(broker_factory, [rule("deny", "all", ["forbidden/#"])], deny_action="disconnect")
    sub = raw(make_raw, b, version, uid + "-s")
    assert sub_rcs(sub, "open/#") == [1]
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "allowed/x") == [1]  # allowed requests are not affected
    if what == "subscribe":
        c.send(mqttraw.subscribe_packet(c.pid(), [("forbidden/x", 1)], version=version))
    else:
        c.publish("forbidden/x", b"no", qos=0 if what == "publish_qos0" else 1)
    assert_disconnected_not_authorized(c, version)
    other = raw(make_raw, b, version, uid + "-o")  # the node carries on
    other.publish_acked("open/x", b"after", qos=1)
    assert next_publish(sub).payload == b"after"


# --- %u, %c, eq ---------------------------------------------------------------------

@versions
def test_username_placeholder(broker_factory, make_raw, passwd, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "all", ["users/%u/#"])], no_match="deny",
                   users={"alice": "pa", "bob": "pb"}, passwd=passwd)
    alice = raw(make_raw, b, version, uid + "-a", username="alice", password="pa")
    d = denied_suback(version)
    assert sub_rcs(alice, "users/alice/#", "users/bob/#", "users/+/x", "users/#") == [1, d, d, d]
    if version == V5:
        assert pub_rc(alice, "users/alice/x") in ACCEPTED
        assert pub_rc(alice, "users/bob/x") == 0x87
    bob = raw(make_raw, b, version, uid + "-b", username="bob", password="pb")
    bob.publish_acked("users/alice/in", b"from bob", qos=1)   # denied: bob may not write there
    bob.publish_acked("users/bob/out", b"bob's own", qos=1)
    assert sub_rcs(bob, "users/bob/#") == [1]
    # an anonymous client (allowed by default) has no %u: no rule matches, no_match denies
    anon = raw(make_raw, b, version, uid + "-n")
    assert sub_rcs(anon, "users//#", "users/alice/#") == [d, d]
    # alice got nothing from bob's denied publish; her next message is her own
    alice.publish_acked("users/alice/marker", b"marker", qos=1)
    assert next_publish(alice).payload == b"marker"


@versions
def test_clientid_placeholder(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "all", ["clients/%c/#"])], no_match="deny")
    d = denied_suback(version)
    c = raw(make_raw, b, version, "dev-" + uid)
    assert sub_rcs(c, "clients/dev-%s/#" % uid, "clients/other/#", "clients/#") == [1, d, d]
    # a client id with a wildcard in it never widens the rule
    w = raw(make_raw, b, version, "+")
    assert sub_rcs(w, "clients/+/#", "clients/+") == [d, d]


@versions
def test_eq_literal_filter(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "subscribe", ["eq wild/#"]), rule("allow", "publish", ["eq pub/exact"])],
                   no_match="deny")
    d = denied_suback(version)
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "wild/#", "wild/x", "wild/+", "wild") == [1, d, d, d]
    if version == V5:
        assert pub_rc(c, "pub/exact") in ACCEPTED
        assert pub_rc(c, "pub/exactly") == 0x87


# --- conditions: ipaddr, username, clientid ----------------------------------------------

@versions
def test_ipaddr(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "all", ["local/#"], ipaddr="127.0.0.1/32"),
                                    rule("allow", "all", ["lan/#"], ipaddr="10.0.0.0/8"),
                                    rule("allow", "all", ["v6/#"], ipaddr="::1/128")],
                   no_match="deny")
    d = denied_suback(version)
    c = raw(make_raw, b, version, uid)  # from 127.0.0.1
    assert sub_rcs(c, "local/x", "lan/x", "v6/x") == [1, d, d]
    if version == V5:
        assert pub_rc(c, "local/x") in ACCEPTED
        assert pub_rc(c, "lan/x") == 0x87


@versions
def test_username_and_clientid_conditions(broker_factory, make_raw, passwd, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "all", ["#"], username="admin"),
                                    rule("allow", "subscribe", ["metrics/#"], clientid="monitor-" + uid)],
                   no_match="deny", users={"admin": "pw", "user": "pw"}, passwd=passwd)
    d = denied_suback(version)
    admin = raw(make_raw, b, version, uid + "-a", username="admin", password="pw")
    assert sub_rcs(admin, "anything/#", "metrics/#") == [1, 1]
    user = raw(make_raw, b, version, uid + "-u", username="user", password="pw")
    assert sub_rcs(user, "anything/#", "metrics/#") == [d, d]
    monitor = raw(make_raw, b, version, "monitor-" + uid)
    assert sub_rcs(monitor, "anything/#", "metrics/cpu", "metrics/#") == [d, 1, 1]
    if version == V5:
        assert pub_rc(monitor, "metrics/cpu") == 0x87  # that rule is subscribe-only


# --- order, no_match, coverage, shared --------------------------------------------------

@versions
def test_no_match_deny_without_rules(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [], no_match="deny")
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "a", "#") == [denied_suback(version)] * 2
    if version == V5:
        assert pub_rc(c, "a") == 0x87
        assert pub_rc(c, "a", qos=2) == 0x87


@versions
def test_first_match_wins(broker_factory, make_raw, uid, version):
    d = denied_suback(version)
    b = acl_broker(broker_factory, [rule("deny", "all", ["secret/#"]), rule("allow", "all", ["#"])], no_match="deny")
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "secret/x", "public/x") == [d, 1]
    b2 = acl_broker(broker_factory, [rule("allow", "all", ["#"]), rule("deny", "all", ["secret/#"])], no_match="deny")
    c2 = raw(make_raw, b2, version, uid)
    assert sub_rcs(c2, "secret/x", "public/x") == [1, 1]


@versions
def test_subscription_coverage(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "subscribe", ["a/#"]), rule("allow", "subscribe", ["b/+"])],
                   no_match="deny")
    d = denied_suback(version)
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "a", "a/#", "a/b/+", "a/+/c/#") == [1, 1, 1, 1]
    assert sub_rcs(c, "b/x", "b/+", "b/#", "b/x/y", "#", "+/x") == [1, 1, d, d, d, d]


@versions
def test_shared_subscriptions_use_the_inner_filter(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "subscribe", ["jobs/#"]),
                                    rule("allow", "subscribe", ["$share/workers/tasks/#"])],
                   no_match="deny")
    d = denied_suback(version)
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "$share/g/jobs/a", "$share/g/jobs/#", "$share/g/other", "$share/jobs/x") == [1, 1, d, d]
    assert sub_rcs(c, "$share/workers/tasks/1", "$share/idlers/tasks/1", "tasks/1") == [1, d, d]


@versions
def test_sys_topics_not_opened_by_hash(broker_factory, make_raw, uid, version):
    b = acl_broker(broker_factory, [rule("allow", "all", ["#"])], no_match="deny")
    c = raw(make_raw, b, version, uid)
    assert sub_rcs(c, "$SYS/#", "x/#") == [denied_suback(version), 1]


def test_acl_and_password_together_mosquitto_clients(broker_factory, passwd, uid):
    """The quick-start combination with the command-line clients: a user reads its own tree."""
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto-clients missing")
    b = acl_broker(broker_factory, [rule("allow", "all", ["home/%u/#"])], no_match="deny",
                   allow_anonymous=False, users={"ann": "a-pass"}, passwd=passwd)
    base = ["-h", b.host, "-p", str(b.port), "-u", "ann", "-P", "a-pass"]
    sub = subprocess.Popen(["mosquitto_sub"] + base + ["-t", "home/ann/#", "-C", "1", "-W", "8", "-i", uid + "-s",
                                                        "-V", "mqttv5"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def delivered():
            subprocess.run(["mosquitto_pub"] + base + ["-t", "home/ann/door", "-m", "open", "-q", "1"],
                           capture_output=True, timeout=10, check=True)
            return sub.poll() is not None or None
        wait_for(delivered, 8.0, interval=0.2)
        out, err = sub.communicate(timeout=5)
        assert out.strip() == b"open", (out, err)
        denied = subprocess.run(["mosquitto_pub"] + base + ["-t", "home/bob/door", "-m", "x", "-q", "1",
                                                             "-V", "mqttv5"], capture_output=True, timeout=10)
        assert b"Not authorized" in denied.stdout + denied.stderr, denied
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)
