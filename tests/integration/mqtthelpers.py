"""Waiting utilities and a thin wrapper around paho-mqtt 1.6 for the tests.

Every wait here has a deadline; nothing sleeps in place of an event.
"""

import queue
import select
import shutil
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

DEFAULT_TIMEOUT = 5.0


def wait_for(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, message=None):
    """Poll predicate() until it returns something truthy; return that value.
    Raises AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or "condition not met within %.1fs" % timeout)
        time.sleep(interval)


class Msg:
    """A received PUBLISH as seen by paho (topic alias already resolved)."""

    def __init__(self, topic, payload, qos, retain, dup, mid, props, alias=None, raw_topic=None):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = bool(retain)
        self.dup = bool(dup)
        self.mid = mid
        self.props = props          # dict: property name -> value ({} for 3.1.1)
        self.alias = alias          # TopicAlias property if the broker used one
        self.raw_topic = raw_topic  # topic string exactly as on the wire
        self.time = time.monotonic()

    def __repr__(self):
        return "<Msg %s %r q%d r%d %s>" % (self.topic, self.payload[:40], self.qos, self.retain, self.props)


class MessageQueue:
    def __init__(self):
        self.q = queue.Queue()
        self.all = []
        self._lock = threading.Lock()

    def put(self, m):
        with self._lock:
            self.all.append(m)
        self.q.put(m)

    def get(self, timeout=DEFAULT_TIMEOUT):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1fs" % timeout)

    def get_n(self, n, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("got %d of %d messages within %.1fs; last ones: %r" % (
                    len(out), n, timeout, out[-5:]))
            try:
                out.append(self.q.get(timeout=remaining))
            except queue.Empty:
                pass
        return out

    def get_until(self, pred, timeout=DEFAULT_TIMEOUT):
        """Collect messages until one satisfies pred; returns (match, before)."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching message within %.1fs; got %d others, last ones: %r" % (
                    timeout, len(before), before[-5:]))
            try:
                m = self.q.get(timeout=remaining)
            except queue.Empty:
                continue
            if pred(m):
                return m, before
            before.append(m)

    def none_within(self, duration):
        """Return the messages (if any) arriving within `duration` seconds.
        Use only to prove that something does NOT happen (keep it short)."""
        deadline = time.monotonic() + duration
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                out.append(self.q.get(timeout=remaining))
            except queue.Empty:
                return out

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out

    def qsize(self):
        return self.q.qsize()


def props_to_dict(p):
    if p is None:
        return {}
    out = {}
    for name in p.names:
        key = name.replace(" ", "")
        if hasattr(p, key):
            out[key] = getattr(p, key)
    return out


def make_props(packet_type, d):
    if not d:
        return None
    p = Properties(packet_type)
    for k, v in d.items():
        setattr(p, k, v)
    return p


def reason(n, packet=PacketTypes.DISCONNECT):
    return ReasonCodes(packet, identifier=n)


def rc_value(rc):
    if isinstance(rc, ReasonCodes):
        return rc.value
    return rc


class Client:
    """paho client wrapper: connect/subscribe/publish wait for their acks,
    received messages go into .messages (a MessageQueue).  Topic aliases the
    broker sets are resolved here (paho 1.6 does not do it itself)."""

    def __init__(self, broker, client_id="", version=5, clean=True, keepalive=60,
                 props=None, will=None, username=None, password=None):
        self.broker = broker
        self.version = version
        self.client_id = client_id
        self.clean = clean
        self.keepalive = keepalive
        self.connect_props = props or {}
        if version == 5:
            self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5,
                                 reconnect_on_failure=False)
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=clean,
                                 protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        if will:
            self.c.will_set(will["topic"], will.get("payload"), will.get("qos", 0),
                            will.get("retain", False),
                            make_props(PacketTypes.WILLMESSAGE, will.get("props")))
        if username is not None:
            self.c.username_pw_set(username, password)
        self.messages = MessageQueue()
        self.aliases = {}
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack_rc = None
        self.session_present = None
        self.connack_props = {}
        # NB: paho 1.6 reports the reason code of a server DISCONNECT only when the
        # packet is longer than 2 bytes; use the raw client to check reason codes
        self.disconnect_rc = None
        self.disconnect_props = {}
        self._cond = threading.Condition()
        self._acked = set()
        self._subacks = {}
        self._unsubacks = {}
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_socket_close = self._on_socket_close
        self._sent_disconnect = False
        self._started = False

    # callbacks
    def _on_connect(self, c, u, flags, rc, properties=None):
        self.connack_rc = rc_value(rc)
        self.session_present = bool(flags.get("session present"))
        self.connack_props = props_to_dict(properties)
        self.connected.set()

    def _on_socket_close(self, c, u, sock):
        """After our DISCONNECT, wait (bounded) for the broker to close its side before paho
        closes the socket: paho does not wait, so the next step of a test, on another
        connection, could reach the broker before it has acted on the DISCONNECT."""
        if not self._sent_disconnect:
            return
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        try:
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], deadline - time.monotonic())
                if readable and not sock.recv(4096):
                    return
        except (OSError, ValueError, AttributeError):
            return  # closed by the broker already, or a wrapper without recv: nothing to wait for

    def _on_disconnect(self, c, u, rc, properties=None):
        self.disconnect_rc = rc_value(rc)
        self.disconnect_props = props_to_dict(properties)
        self.disconnected.set()

    def _on_message(self, c, u, m):
        props = props_to_dict(getattr(m, "properties", None)) if self.version == 5 else {}
        raw_topic = m.topic if isinstance(m.topic, str) else m._topic.decode("utf-8", "replace")
        topic = raw_topic
        alias = props.get("TopicAlias")
        if alias is not None:
            if raw_topic:
                self.aliases[alias] = raw_topic
            else:
                topic = self.aliases.get(alias, "<unknown alias %d>" % alias)
        self.messages.put(Msg(topic, m.payload, m.qos, m.retain, m.dup, m.mid, props, alias, raw_topic))

    def _on_publish(self, c, u, mid):
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    def _on_subscribe(self, c, u, mid, rcs, properties=None):
        with self._cond:
            self._subacks[mid] = [rc_value(r) for r in rcs]
            self._cond.notify_all()

    def _on_unsubscribe(self, c, u, mid, properties=None, rcs=None):
        with self._cond:
            if isinstance(rcs, list):
                self._unsubacks[mid] = [rc_value(r) for r in rcs]
            elif rcs is not None:
                self._unsubacks[mid] = [rc_value(rcs)]
            else:
                self._unsubacks[mid] = []
            self._cond.notify_all()

    def _wait_cond(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("%s: no answer within %.1fs" % (what, timeout))
                self._cond.wait(remaining)

    # operations
    def connect(self, timeout=DEFAULT_TIMEOUT, expect_rc=0):
        props = dict(self.connect_props)
        kwargs = {}
        if self.version == 5:
            kwargs["clean_start"] = self.clean
            kwargs["properties"] = make_props(PacketTypes.CONNECT, props)
        self.c.connect(self.broker.host, self.broker.port, self.keepalive, **kwargs)
        self.c.loop_start()
        self._started = True
        if not self.connected.wait(timeout):
            raise AssertionError("no CONNACK within %.1fs" % timeout)
        if expect_rc is not None:
            assert self.connack_rc == expect_rc, "CONNACK rc %r, expected %r" % (self.connack_rc, expect_rc)
        return self

    def subscribe(self, topic, qos=0, no_local=False, rap=False, rh=0, props=None, subid=None,
                  timeout=DEFAULT_TIMEOUT):
        """topic: a filter or a list of (filter, qos).  Returns the SUBACK codes."""
        p = dict(props or {})
        if subid is not None:
            p["SubscriptionIdentifier"] = subid
        if self.version == 5:
            if isinstance(topic, list):
                arg = [(t, SubscribeOptions(q, no_local, rap, rh)) for t, q in topic]
                rc, mid = self.c.subscribe(arg, properties=make_props(PacketTypes.SUBSCRIBE, p))
            else:
                rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos, no_local, rap, rh),
                                           properties=make_props(PacketTypes.SUBSCRIBE, p))
        else:
            if isinstance(topic, list):
                rc, mid = self.c.subscribe(topic)
            else:
                rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "subscribe send failed: %s" % rc
        self._wait_cond(lambda: mid in self._subacks, timeout, "SUBACK for %r" % (topic,))
        return self._subacks[mid]

    def unsubscribe(self, topic, timeout=DEFAULT_TIMEOUT):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait_cond(lambda: mid in self._unsubacks, timeout, "UNSUBACK for %r" % (topic,))
        return self._unsubacks[mid]

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, wait=True,
                timeout=DEFAULT_TIMEOUT):
        """Publish; with wait=True block until PUBACK/PUBCOMP (QoS>0) or sent (QoS 0)."""
        info = self.c.publish(topic, payload, qos, retain,
                              make_props(PacketTypes.PUBLISH, props) if self.version == 5 else None)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish failed: %s" % info.rc
        if wait:
            self._wait_cond(lambda: info.mid in self._acked, timeout, "ack of publish to %r" % topic)
        return info.mid

    def wait_published(self, mid, timeout=DEFAULT_TIMEOUT):
        self._wait_cond(lambda: mid in self._acked, timeout, "ack of mid %d" % mid)

    def disconnect(self, rc=None, props=None, timeout=DEFAULT_TIMEOUT):
        """Clean DISCONNECT (reason code rc for MQTT 5) and wait for the close."""
        self._sent_disconnect = True
        if self.version == 5:
            self.c.disconnect(reasoncode=reason(rc) if rc is not None else None,
                              properties=make_props(PacketTypes.DISCONNECT, props))
        else:
            self.c.disconnect()
        self.disconnected.wait(timeout)
        self.stop()

    def _shut_socket(self):
        """Shut paho's TCP connection down under it, without DISCONNECT (for drop and close)."""
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        """Close the TCP connection without DISCONNECT (will is due)."""
        self._shut_socket()
        self.disconnected.wait(DEFAULT_TIMEOUT)
        self.stop()

    def wait_disconnected(self, timeout=DEFAULT_TIMEOUT):
        if not self.disconnected.wait(timeout):
            raise AssertionError("still connected after %.1fs" % timeout)
        return self.disconnect_rc

    def stop(self):
        if self._started:
            self._started = False
            self.c.loop_stop()

    def close(self):
        """Teardown: best effort, never blocks long."""
        try:
            if not self.disconnected.is_set():
                self._shut_socket()
            self.disconnected.wait(2)
        finally:
            self.stop()


def barrier(pub, sub, topic, timeout=DEFAULT_TIMEOUT, qos=1):
    """Publish a unique marker on `topic` (which `sub` must be subscribed to)
    and return every message `sub` received before the marker."""
    marker = ("barrier-%f" % time.monotonic()).encode()
    pub.publish(topic, marker, qos=qos)
    _, before = sub.messages.get_until(lambda m: m.payload == marker, timeout)
    return before


# --- checks on raw connections -------------------------------------------------

def expect_refused(raw, connack_rcs=(), disconnect_rcs=(), allow=(), timeout=DEFAULT_TIMEOUT):
    """The broker must close `raw` within `timeout`.  Before the close it may only
    send a CONNACK with a reason code in connack_rcs, a DISCONNECT with a reason
    code in disconnect_rcs, or packets whose type is in `allow`.
    Returns the packets read."""
    import mqttraw
    pkts = raw.wait_closed(timeout)
    for p in pkts:
        if p.type == mqttraw.CONNACK:
            assert p.rc in connack_rcs, "unexpected %r before close (allowed CONNACK rcs %r)" % (p, connack_rcs)
        elif p.type == mqttraw.DISCONNECT:
            assert p.rc in disconnect_rcs, "unexpected %r before close (allowed DISCONNECT rcs %r)" % (p, disconnect_rcs)
        else:
            assert p.type in allow, "unexpected %r before close" % (p,)
    return pkts


def expect_filter_not_granted(broker, raw, flt, version=5):
    """SUBSCRIBE to the invalid filter `flt` on `raw` (connected to `broker`): either a
    failure SUBACK or a DISCONNECT and close is conformant, a grant is not; the broker
    keeps serving.  The check of test_topics.py's and test_shared.py's invalid filters."""
    import mqttraw
    raw.send(mqttraw.subscribe_packet(1, [(flt, 1)], version=version))
    try:
        p = raw.recv(5)
    except Exception:
        p = None
    if p is not None and p.type == mqttraw.SUBACK:
        if version == 4:
            assert p.rcs == [0x80], p
        else:
            assert len(p.rcs) == 1 and p.rcs[0] >= 0x80, p
    else:
        if p is not None:
            assert p.type == 14 and p.rc in (0x81, 0x82, 0x8F), p
        expect_refused(raw, disconnect_rcs=(0x81, 0x82, 0x8F))
    assert_serving(broker)


def assert_serving(broker, version=5):
    """The broker is alive and a fresh client can connect, subscribe and get a
    QoS 1 message back."""
    import mqttraw
    assert broker.alive(), "broker process died:\n" + broker.logs()
    c = mqttraw.RawClient(broker.host, broker.port, version=version)
    try:
        ack = c.connect("alive-check-%d" % int(time.monotonic() * 1000), version=version)
        assert ack.rc == 0, ack
        c.subscribe("alive/check", qos=1)
        c.publish("alive/check", b"ping", qos=1)
        got = []
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while len(got) < 2:
            p = c.recv(max(deadline - time.monotonic(), 0.01))
            if p.type == mqttraw.PUBLISH:
                assert p.payload == b"ping"
                c.puback(p.pid)
                got.append(p)
            elif p.type == mqttraw.PUBACK:
                got.append(p)
    finally:
        c.close()


# --- mosquitto_pub / mosquitto_sub -----------------------------------------------
# Shared by test_pubsub.py (one broker) and test_cluster_routes.py (across nodes); a
# "broker" here is anything with .host and .port (a Broker or a ClusterNode).

requires_mosquitto_clients = pytest.mark.skipif(shutil.which("mosquitto_sub") is None,
                                                reason="mosquitto-clients missing")


def _read_lines(proc, q):
    for line in proc.stdout:
        q.put(line.decode("utf-8", "replace").rstrip("\n"))
    q.put(None)


class MosquittoSub:
    """mosquitto_sub in the background; lines of stdout go into a queue."""

    def __init__(self, broker, args):
        self.proc = subprocess.Popen(
            # stdbuf: mosquitto_sub block-buffers stdout when it is a pipe
            [shutil.which("stdbuf") or "stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
             "-d"] + args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=_read_lines, args=(self.proc, self.lines), daemon=True).start()

    def wait_line(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("mosquitto_sub: no matching line; output: %r" % self.seen)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("mosquitto_sub exited (%s); output: %r" % (self.proc.poll(), self.seen))
            self.seen.append(line)
            if pred(line):
                return line

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def mosquitto_pub(broker, args, timeout=10):
    r = subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port)] + args,
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "mosquitto_pub failed: %r" % (r,)
    return r


def check_mosquitto_cli_roundtrip(cli_procs, sub_broker, pub_broker, topic, proto, qos, sub_wait_s,
                                  before_publish=None):
    """The mosquitto_sub -> mosquitto_pub QoS x protocol check both test_pubsub.py and
    test_cluster_routes.py run: three messages published on pub_broker reach a
    mosquitto_sub on sub_broker with topic and QoS intact, and mosquitto_sub (-C 3)
    exits 0.  before_publish() runs once the SUBACK is seen (e.g. to wait for a route)."""
    sub = MosquittoSub(sub_broker, ["-V", proto, "-q", str(qos), "-t", topic, "-C", "3", "-W", str(sub_wait_s),
                                    "-F", "PAYLOAD %t %q %p"])
    cli_procs.append(sub)
    sub.wait_line(lambda line: "SUBACK" in line)
    if before_publish is not None:
        before_publish()
    for i in range(3):
        mosquitto_pub(pub_broker, ["-V", proto, "-q", str(qos), "-t", topic, "-m", "hello-%d" % i])
    got = [sub.wait_line(lambda line: line.startswith("PAYLOAD")) for _ in range(3)]
    assert got == ["PAYLOAD %s %d hello-%d" % (topic, qos, i) for i in range(3)]
    assert sub.proc.wait(10) == 0
