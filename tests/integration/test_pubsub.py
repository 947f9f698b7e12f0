"""Publish/subscribe at QoS 0/1/2 in both directions, both protocol versions,
with paho, the raw client and the mosquitto command line tools."""

import subprocess

import pytest

import mqttraw
from mqttraw import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL
from mqtthelpers import (
    MosquittoSub, barrier, check_mosquitto_cli_roundtrip, mosquitto_pub, requires_mosquitto_clients)

VERSIONS = [4, 5]


@pytest.mark.parametrize("pub_version", VERSIONS)
@pytest.mark.parametrize("sub_version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pubsub_qos(broker, make_client, uid, qos, sub_version, pub_version):
    sub = make_client(broker, "s-" + uid, version=sub_version)
    pub = make_client(broker, "p-" + uid, version=pub_version)
    assert sub.subscribe("ps/%s" % uid, qos=2) == [2]
    for i in range(3):
        pub.publish("ps/%s" % uid, b"m%d" % i, qos=qos)
    msgs = sub.messages.get_n(3)
    assert [m.payload for m in msgs] == [b"m0", b"m1", b"m2"]
    assert all(m.topic == "ps/%s" % uid and m.qos == qos and not m.retain for m in msgs)
    assert sub.messages.none_within(0.2) == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("sub_qos,pub_qos", [(0, 1), (0, 2), (1, 2)])
def test_delivery_qos_is_minimum_of_subscription_and_publish(broker, make_client, uid, version, sub_qos, pub_qos):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    assert sub.subscribe("down/" + uid, qos=sub_qos) == [sub_qos]
    pub.publish("down/" + uid, b"x", qos=pub_qos)
    m = sub.messages.get()
    assert m.qos == min(sub_qos, pub_qos)


@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_outbound_on_the_wire(broker, make_raw, make_client, uid, version):
    sub = make_raw(broker, version, client_id="s-" + uid)
    assert sub.subscribe("q1/" + uid, qos=1).rcs == [1]
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish("q1/" + uid, b"hello", qos=1)
    p = sub.expect(PUBLISH)
    assert p.qos == 1 and p.pid and not p.dup and p.payload == b"hello"
    sub.puback(p.pid)
    pub.publish("q1/" + uid, b"again", qos=1)
    p2 = sub.expect(PUBLISH)
    assert p2.payload == b"again" and p2.pid != 0


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_outbound_handshake(broker, make_raw, make_client, uid, version):
    sub = make_raw(broker, version, client_id="s-" + uid)
    sub.subscribe("q2/" + uid, qos=2)
    pub = make_client(broker, "p-" + uid, version=version)
    pub.publish("q2/" + uid, b"exactly-once", qos=2)
    p = sub.expect(PUBLISH)
    assert p.qos == 2 and p.pid and p.payload == b"exactly-once"
    sub.pubrec(p.pid)
    rel = sub.expect(PUBREL)
    assert rel.pid == p.pid and rel.flags == 0x02
    sub.pubcomp(p.pid)
    assert sub.recv_all(0.3) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_inbound_puback(broker, make_raw, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid)
    pid = c.publish("in1/" + uid, b"x", qos=1, pid=4242)
    ack = c.expect(PUBACK)
    assert ack.pid == 4242 == pid
    if version == 5:
        # 0x10 "no matching subscribers" is allowed, a failure code is not
        assert ack.rc in (0x00, 0x10), ack


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_inbound_exactly_once_with_duplicate_publish(broker, make_raw, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    sub.subscribe("in2/" + uid, qos=2)
    c = make_raw(broker, version, client_id="c-" + uid)
    c.publish("in2/" + uid, b"once", qos=2, pid=77)
    rec = c.expect(PUBREC)
    assert rec.pid == 77 and (rec.rc or 0) < 0x80
    # the client did not see the PUBREC (as far as the broker knows): resend with DUP
    c.publish("in2/" + uid, b"once", qos=2, pid=77, dup=True)
    rec2 = c.expect(PUBREC)
    assert rec2.pid == 77
    c.pubrel(77)
    comp = c.expect(PUBCOMP)
    assert comp.pid == 77 and (comp.rc or 0) == 0
    first = sub.messages.get()
    assert first.payload == b"once"
    sub.subscribe("in2b/" + uid, qos=1)
    extra = barrier(sub, sub, "in2b/" + uid)
    assert extra == [], "duplicate QoS 2 PUBLISH was delivered twice: %r" % extra


@pytest.mark.parametrize("version", VERSIONS)
def test_pubrel_for_unknown_packet_id_gets_pubcomp(broker, make_raw, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid)
    c.pubrel(999)
    comp = c.expect(PUBCOMP)
    assert comp.pid == 999
    if version == 5:
        assert comp.rc in (0x00, 0x92), comp  # 0x92 packet identifier not found


@pytest.mark.parametrize("version", VERSIONS)
def test_order_is_preserved_qos1(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe("ord/" + uid, qos=1)
    mids = [pub.publish("ord/" + uid, b"%d" % i, qos=1, wait=False) for i in range(200)]
    for mid in mids:
        pub.wait_published(mid)
    got = sub.messages.get_n(200, timeout=10)
    assert [int(m.payload) for m in got] == list(range(200))


@pytest.mark.parametrize("version", VERSIONS)
def test_large_payload(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe("big/" + uid, qos=1)
    payload = bytes(range(256)) * 400  # 100 KiB
    pub.publish("big/" + uid, payload, qos=1)
    assert sub.messages.get().payload == payload


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_payload_non_retained(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe("empty/" + uid, qos=1)
    pub.publish("empty/" + uid, b"", qos=1)
    assert sub.messages.get().payload == b""


@pytest.mark.parametrize("version", VERSIONS)
def test_wildcard_subscriptions(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe([("wc/%s/+/temp" % uid, 1), ("wc/%s/house/#" % uid, 1)])
    pub.publish("wc/%s/kitchen/temp" % uid, b"1", qos=1)
    pub.publish("wc/%s/kitchen/humidity" % uid, b"no", qos=1)
    pub.publish("wc/%s/house" % uid, b"2", qos=1)  # '#' also matches the parent level
    pub.publish("wc/%s/house/a/b/c" % uid, b"3", qos=1)
    sub.subscribe("wc/%s/end" % uid, qos=1)
    before = barrier(pub, sub, "wc/%s/end" % uid)
    assert sorted(m.payload for m in before) == [b"1", b"2", b"3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_stops_delivery(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe([("un/%s/a" % uid, 1), ("un/%s/b" % uid, 1)])
    pub.publish("un/%s/a" % uid, b"before", qos=1)
    assert sub.messages.get().payload == b"before"
    rcs = sub.unsubscribe("un/%s/a" % uid)
    if version == 5:
        assert rcs == [0], rcs
    pub.publish("un/%s/a" % uid, b"after", qos=1)
    before = barrier(pub, sub, "un/%s/b" % uid)
    assert before == [], "message delivered after UNSUBSCRIBE: %r" % before


def test_v5_unsubscribe_unknown_filter_gets_0x11(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="c-" + uid)
    ack = c.unsubscribe(["never/subscribed", "also/not"])
    assert ack.rcs == [0x11, 0x11], ack


def test_v5_subscribe_multiple_filters_suback_order(broker, make_raw, uid):
    c = make_raw(broker, 5, client_id="c-" + uid)
    ack = c.subscribe([("m/a", {"qos": 2}), ("m/b", {"qos": 0}), ("m/c", {"qos": 1})])
    assert ack.rcs == [2, 0, 1]


def test_resubscribe_replaces_qos(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=4)
    pub = make_client(broker, "p-" + uid, version=4)
    sub.subscribe("rs/" + uid, qos=0)
    sub.subscribe("rs/" + uid, qos=2)
    pub.publish("rs/" + uid, b"x", qos=2)
    m = sub.messages.get()
    assert m.qos == 2
    assert sub.messages.none_within(0.3) == [], "re-subscribing must replace, not add"


# --- mosquitto_pub / mosquitto_sub ------------------------------------------------

@requires_mosquitto_clients
@pytest.mark.parametrize("proto", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_cli_pub_to_sub(broker, cli_procs, uid, proto, qos):
    check_mosquitto_cli_roundtrip(cli_procs, broker, broker, "cli/" + uid, proto, qos, sub_wait_s=10)


@requires_mosquitto_clients
def test_mosquitto_pub_to_paho_v5_with_properties(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("cli5/" + uid, qos=1)
    mosquitto_pub(broker, ["-V", "mqttv5", "-q", "1", "-t", "cli5/" + uid, "-m", "with-props",
                           "-D", "publish", "user-property", "k", "v",
                           "-D", "publish", "content-type", "text/plain"])
    m = sub.messages.get()
    assert m.payload == b"with-props" and m.qos == 1
    assert m.props.get("UserProperty") == [("k", "v")]
    assert m.props.get("ContentType") == "text/plain"


@requires_mosquitto_clients
def test_paho_to_mosquitto_sub(broker, make_client, cli_procs, uid):
    topic = "cli3/" + uid
    sub = MosquittoSub(broker, ["-V", "mqttv311", "-q", "1", "-t", topic, "-C", "1", "-W", "10", "-F", "PAYLOAD %p"])
    cli_procs.append(sub)
    sub.wait_line(lambda line: "SUBACK" in line)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish(topic, b"from-paho", qos=1)
    assert sub.wait_line(lambda line: line.startswith("PAYLOAD")) == "PAYLOAD from-paho"
    assert sub.proc.wait(10) == 0


@requires_mosquitto_clients
def test_mosquitto_cli_retained(broker, uid):
    topic = "cliret/" + uid
    mosquitto_pub(broker, ["-q", "1", "-r", "-t", topic, "-m", "kept"])
    r = subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic,
                        "-C", "1", "-W", "10", "-F", "%r %p"],
                       capture_output=True, timeout=15, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    assert r.stdout.decode().strip() == "1 kept"
