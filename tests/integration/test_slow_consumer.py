"""A consumer that stops reading must not block anybody else."""

import time

import pytest

from mqttraw import PUBACK

PAYLOAD = b"s" * 4096
DEADLINE = 10.0


@pytest.mark.parametrize("version", [4, 5])
def test_stalled_qos0_subscriber_does_not_block_fast_one(broker, make_raw, make_client, uid, version):
    batches, per_batch = 30, 100  # 12 MB: far more than the stalled client's socket buffers hold
    topic = "slow0/" + uid
    stalled = make_raw(broker, version, client_id="stalled-" + uid, rcvbuf=4096)
    stalled.subscribe(topic, qos=0)  # ... and never reads again
    fast = make_client(broker, "fast-" + uid, version=version)
    fast.subscribe(topic, qos=0)
    pub = make_raw(broker, version, client_id="pub-" + uid)
    t0 = time.monotonic()
    got = []
    for b in range(batches):
        # paced by the fast subscriber, so QoS 0 overload shedding never applies to it
        for i in range(b * per_batch, (b + 1) * per_batch):
            pub.publish(topic, b"%06d" % i + PAYLOAD, qos=0)
        remaining = DEADLINE - (time.monotonic() - t0)
        got += fast.messages.get_n(per_batch, timeout=max(remaining, 0.1))
    elapsed = time.monotonic() - t0
    assert [int(m.payload[:6]) for m in got] == list(range(batches * per_batch))
    assert elapsed <= DEADLINE, "fast subscriber took %.1fs" % elapsed


@pytest.mark.parametrize("version", [4, 5])
def test_stalled_qos1_subscriber_does_not_block_fast_one(broker, make_raw, make_client, uid, version):
    batches, per_batch = 15, 100
    topic = "slow1/" + uid
    stalled = make_raw(broker, version, client_id="stalled-" + uid, rcvbuf=4096)
    stalled.subscribe(topic, qos=1)  # never reads, never acknowledges
    fast = make_client(broker, "fast-" + uid, version=version)
    fast.subscribe(topic, qos=1)
    pub = make_client(broker, "pub-" + uid, version=version)
    t0 = time.monotonic()
    got = []
    for b in range(batches):
        # paced by the fast subscriber: its own pending queue never fills up
        mids = [pub.publish(topic, b"%06d" % i + PAYLOAD, qos=1, wait=False)
                for i in range(b * per_batch, (b + 1) * per_batch)]
        for mid in mids:
            pub.wait_published(mid, timeout=max(DEADLINE - (time.monotonic() - t0), 0.1))
        got += fast.messages.get_n(per_batch, timeout=max(DEADLINE - (time.monotonic() - t0), 0.1))
    assert [int(m.payload[:6]) for m in got] == list(range(batches * per_batch))
    assert time.monotonic() - t0 <= DEADLINE


def test_stalled_subscriber_does_not_block_other_topics(broker, make_raw, make_client, uid):
    stalled = make_raw(broker, 5, client_id="stalled-" + uid, rcvbuf=4096)
    stalled.subscribe("busy/" + uid, qos=0)
    other = make_client(broker, "other-" + uid, version=5)
    other.subscribe("quiet/" + uid, qos=1)
    pub = make_raw(broker, 5, client_id="pub-" + uid)
    for i in range(2000):
        pub.publish("busy/" + uid, PAYLOAD, qos=0)
    t0 = time.monotonic()
    probe = make_client(broker, "probe-" + uid, version=5)
    probe.publish("quiet/" + uid, b"hello", qos=1)
    assert other.messages.get(timeout=DEADLINE).payload == b"hello"
    assert time.monotonic() - t0 <= 3.0, "an unrelated topic was held up by a stalled consumer"
