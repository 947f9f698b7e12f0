"""MQTT 5 PUBLISH properties passed through; request/response information."""

import pytest

from mqttraw import CONNACK, connect_packet
from mqtthelpers import expect_refused

PROPS = {
    "PayloadFormatIndicator": 1,
    "ContentType": "application/json; charset=utf-8",
    "ResponseTopic": "resp/here",
    "CorrelationData": b"\x00\xffcorr\x01",
    "UserProperty": [("a", "1"), ("b", "2"), ("a", "3"), ("ключ", "значение"), ("", "")],
}


def check_props(m):
    assert m.props.get("PayloadFormatIndicator") == 1
    assert m.props.get("ContentType") == PROPS["ContentType"]
    assert m.props.get("ResponseTopic") == PROPS["ResponseTopic"]
    assert m.props.get("CorrelationData") == PROPS["CorrelationData"]
    assert m.props.get("UserProperty") == PROPS["UserProperty"], "user properties must keep order and duplicates"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_properties_pass_through(broker, make_client, uid, qos):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("pp/" + uid, qos=2)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("pp/" + uid, '{"k": "v"}'.encode(), qos=qos, props=PROPS)
    m = sub.messages.get()
    assert m.payload == b'{"k": "v"}'
    check_props(m)


def test_properties_kept_on_retained_message(broker, make_client, uid):
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ppr/" + uid, b"{}", qos=1, retain=True, props=PROPS)
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("ppr/" + uid, qos=1)
    m = sub.messages.get()
    assert m.retain
    check_props(m)


def test_properties_kept_in_offline_queue(broker, make_client, uid):
    kw = {"clean": False, "props": {"SessionExpiryInterval": 60}}
    sub = make_client(broker, "s-" + uid, version=5, **kw)
    sub.subscribe("ppq/" + uid, qos=1)
    sub.disconnect()
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ppq/" + uid, b"{}", qos=1, props=PROPS)
    sub2 = make_client(broker, "s-" + uid, version=5, **kw)
    check_props(sub2.messages.get())


def test_many_user_properties(broker, make_client, uid):
    ups = [("k%03d" % i, "v" * (i % 17)) for i in range(200)]
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("ppm/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ppm/" + uid, b"x", qos=1, props={"UserProperty": ups})
    assert sub.messages.get().props.get("UserProperty") == ups


def test_v5_to_v311_subscriber_gets_payload(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=4)
    sub.subscribe("ppv3/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ppv3/" + uid, b"plain", qos=1, props=PROPS)
    m = sub.messages.get()
    assert m.payload == b"plain" and m.qos == 1


def test_v311_to_v5_subscriber_has_no_properties(broker, make_client, uid):
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe("ppv5/" + uid, qos=1)
    pub = make_client(broker, "p-" + uid, version=4)
    pub.publish("ppv5/" + uid, b"plain", qos=1)
    m = sub.messages.get()
    assert m.payload == b"plain"
    assert not {"PayloadFormatIndicator", "ContentType", "ResponseTopic", "CorrelationData",
                "UserProperty", "MessageExpiryInterval"} & set(m.props), m.props


def test_request_response_round_trip(broker, make_client, uid):
    requester = make_client(broker, "rq-" + uid, version=5)
    responder = make_client(broker, "rs-" + uid, version=5)
    requester.subscribe("reply/" + uid, qos=1)
    responder.subscribe("service/" + uid, qos=1)
    requester.publish("service/" + uid, b"ping", qos=1,
                      props={"ResponseTopic": "reply/" + uid, "CorrelationData": b"id-42"})
    req = responder.messages.get()
    assert req.props.get("ResponseTopic") == "reply/" + uid
    responder.publish(req.props["ResponseTopic"], b"pong", qos=1,
                      props={"CorrelationData": req.props["CorrelationData"]})
    resp = requester.messages.get()
    assert resp.payload == b"pong" and resp.props.get("CorrelationData") == b"id-42"


def test_no_response_information_unless_requested(broker, make_raw):
    c = make_raw(broker, 5, client_id="no-rri")
    assert "ResponseInformation" not in c.connack.props


@pytest.mark.tidemq_only(reason="Response Information is optional; mosquitto 2.0.11 never sends it")
def test_request_response_information(broker, make_raw, make_client, uid):
    c = make_raw(broker, 5, client_id="rri-" + uid, props={"RequestResponseInformation": 1})
    info = c.connack.props.get("ResponseInformation")
    assert info, "Request Response Information=1 should get Response Information: %r" % c.connack
    # the response information is a usable topic prefix
    sub = make_client(broker, "s-" + uid, version=5)
    sub.subscribe(info.rstrip("/") + "/#", qos=1)
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish(info.rstrip("/") + "/x", b"ok", qos=1)
    assert sub.messages.get().payload == b"ok"


@pytest.mark.tidemq_only(reason="mosquitto 2.0.11 accepts a Subscription Identifier in a client PUBLISH")
def test_subscription_identifier_in_client_publish_is_protocol_error(broker, make_raw, uid):
    """MQTT-3.3.4-6: a PUBLISH from a client MUST NOT contain a Subscription Identifier."""
    c = make_raw(broker, 5, client_id="c-" + uid)
    c.publish("sidp/" + uid, b"x", qos=1, props={"SubscriptionIdentifier": 3})
    expect_refused(c, disconnect_rcs=(0x82, 0x81))


def test_request_problem_information_zero_is_accepted(broker, make_raw):
    c = make_raw(broker, 5)
    c.send(connect_packet("rpi0", props={"RequestProblemInformation": 0}))
    assert c.expect(CONNACK).rc == 0
