"""Topic filter validation, wildcard matching, `$` topics, invalid topic names."""

import pytest

from mqttraw import PUBLISH
from mqtthelpers import assert_serving, barrier, expect_filter_not_granted, expect_refused

INVALID_FILTERS = ["a/#/b", "a+/b", "a/b#", "#/a", "+a/b", "a/++", "a/#b"]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("flt", INVALID_FILTERS)
def test_invalid_filter_is_not_granted(broker, make_raw, uid, version, flt):
    """Either a failure SUBACK or a disconnect is conformant; a grant is not."""
    c = make_raw(broker, version, client_id="c-" + uid)
    expect_filter_not_granted(broker, c, flt, version)


@pytest.mark.tidemq_only(reason="tidemq answers invalid filters with a failure SUBACK (mosquitto disconnects)")
@pytest.mark.parametrize("version", [4, 5])
def test_invalid_filter_suback_codes_and_valid_ones_still_granted(broker, make_raw, make_client, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid)
    filters = [("ok/%s/+" % uid, {"qos": 1})] + [(f, {"qos": 1}) for f in INVALID_FILTERS]
    ack = c.subscribe(filters)
    bad = 0x8F if version == 5 else 0x80
    assert ack.rcs == [1] + [bad] * len(INVALID_FILTERS), ack
    pub = make_client(broker, "p-" + uid, version=5)
    pub.publish("ok/%s/x" % uid, b"still-works", qos=1)
    p, _ = c.recv_until(lambda p: p.type == PUBLISH)
    assert p.payload == b"still-works"


MATCHES = [
    # filter, topic, matches
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/tennis/+", "sport/tennis", False),
    ("sport/#", "sport", True),
    ("sport/#", "sport/tennis/player1", True),
    ("sport/+", "sport/", True),
    ("sport/+", "sport", False),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "finance", True),
    ("#", "a/b/c", True),
    ("a//b", "a//b", True),
    ("a/+/b", "a//b", True),
    ("A/b", "a/b", False),
    ("a/b", "a/b/", False),
    ("+/+/+", "x/y/z", True),
    ("x/+/z/#", "x/y/z", True),
    ("caf\u00e9/+", "caf\u00e9/cr\u00e8me", True),
]


@pytest.mark.parametrize("version", [4, 5])
def test_wildcard_matching_table(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    for i, (flt, topic, expected) in enumerate(MATCHES):
        sub = make_client(broker, "s%d-%s" % (i, uid), version=version)
        sub.subscribe(flt, qos=1)
        sub.subscribe("zz-barrier/" + uid, qos=1)
        pub.publish(topic, b"probe", qos=1)
        got = [m for m in barrier(pub, sub, "zz-barrier/" + uid) if m.payload == b"probe"]
        assert bool(got) == expected, "filter %r vs topic %r: expected match=%s" % (flt, topic, expected)
        if got:
            assert got[0].topic == topic
        sub.disconnect()


@pytest.mark.parametrize("version", [4, 5])
def test_dollar_topics_not_matched_by_leading_wildcards(broker, make_client, uid, version):
    pub = make_client(broker, "p-" + uid, version=version)
    hash_sub = make_client(broker, "h-" + uid, version=version)
    plus_sub = make_client(broker, "+-" + uid, version=version)
    dollar_sub = make_client(broker, "d-" + uid, version=version)
    hash_sub.subscribe("#", qos=1)
    plus_sub.subscribe([("+/%s" % uid, 1), ("+/+/%s" % uid, 1)])
    dollar_sub.subscribe([("$test/#", 1), ("$test/+/%s" % uid, 1)])
    pub.publish("$test/%s" % uid, b"dollar-1", qos=1)
    pub.publish("$test/x/%s" % uid, b"dollar-2", qos=1)
    pub.publish("plain/%s" % uid, b"plain", qos=1)
    # everything that # would see arrives before the plain message
    m, before = hash_sub.messages.get_until(lambda m: m.payload == b"plain")
    assert [x for x in before if x.topic.startswith("$")] == [], "'#' matched a $ topic: %r" % before
    m, before = plus_sub.messages.get_until(lambda m: m.payload == b"plain")
    assert before == [], "'+/...' matched a $ topic: %r" % before
    # $test/x/<uid> matches both of dollar_sub's filters (overlap rules are
    # tested elsewhere): wait for both distinct payloads
    seen = set()
    for _ in range(10):
        if seen == {b"dollar-1", b"dollar-2"}:
            break
        seen.add(dollar_sub.messages.get().payload)
    assert seen == {b"dollar-1", b"dollar-2"}, seen


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("topic", ["a/+/b", "a/#", "#", "+"])
def test_publish_to_wildcard_topic_is_refused(broker, make_raw, uid, version, topic):
    c = make_raw(broker, version, client_id="c-" + uid)
    c.publish(topic, b"x", qos=1)
    expect_refused(c, disconnect_rcs=(0x90, 0x81, 0x82))
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_publish_to_empty_topic_without_alias_is_refused(broker, make_raw, uid, version):
    c = make_raw(broker, version, client_id="c-" + uid)
    c.publish("", b"x", qos=0)
    expect_refused(c, disconnect_rcs=(0x82, 0x81, 0x90))
    assert_serving(broker)


@pytest.mark.parametrize("version", [4, 5])
def test_unsubscribe_matches_filter_string_exactly(broker, make_client, uid, version):
    sub = make_client(broker, "s-" + uid, version=version)
    pub = make_client(broker, "p-" + uid, version=version)
    sub.subscribe("ux/%s/+" % uid, qos=1)
    rcs = sub.unsubscribe("ux/%s/a" % uid)  # not the same filter string
    if version == 5:
        assert rcs == [0x11], rcs
    pub.publish("ux/%s/a" % uid, b"still", qos=1)
    assert sub.messages.get().payload == b"still"


@pytest.mark.tidemq_only(reason="mqtt.wildcard_subscription is a tidemq setting")
def test_wildcard_subscriptions_disabled(broker_factory, make_raw, uid):
    b = broker_factory(wildcard_subscription=False)
    c = make_raw(b, 5, client_id="c-" + uid)
    assert c.connack.props.get("WildcardSubscriptionAvailable") == 0, c.connack
    ack = c.subscribe([("a/+", {"qos": 1}), ("a/#", {"qos": 1}), ("a/b", {"qos": 1})])
    assert ack.rcs == [0xA2, 0xA2, 1], ack
