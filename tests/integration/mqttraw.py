"""A tiny hand-rolled MQTT 3.1.1 / 5.0 client for black-box broker tests.

It exists for everything a real client library hides or refuses to do:
packets exactly as they are on the wire (topic aliases, DUP flags, reason
codes, properties), not acknowledging messages (flow control), and sending
malformed bytes.

Nothing here is clever: encoders build byte strings, `RawClient.recv()` reads
exactly one packet and decodes it into a `Packet`.  Every read has a deadline.
"""

import socket
import struct
import time

# --- packet types -----------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP = 8, 9, 10, 11, 12, 13
DISCONNECT, AUTH = 14, 15

PACKET_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
    6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
    11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH",
}

# --- MQTT 5 properties: id -> (name, type) ----------------------------------

PROPS = {
    0x01: ("PayloadFormatIndicator", "byte"),
    0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"),
    0x08: ("ResponseTopic", "str"),
    0x09: ("CorrelationData", "bin"),
    0x0B: ("SubscriptionIdentifier", "varint"),
    0x11: ("SessionExpiryInterval", "u32"),
    0x12: ("AssignedClientIdentifier", "str"),
    0x13: ("ServerKeepAlive", "u16"),
    0x15: ("AuthenticationMethod", "str"),
    0x16: ("AuthenticationData", "bin"),
    0x17: ("RequestProblemInformation", "byte"),
    0x18: ("WillDelayInterval", "u32"),
    0x19: ("RequestResponseInformation", "byte"),
    0x1A: ("ResponseInformation", "str"),
    0x1C: ("ServerReference", "str"),
    0x1F: ("ReasonString", "str"),
    0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"),
    0x23: ("TopicAlias", "u16"),
    0x24: ("MaximumQoS", "byte"),
    0x25: ("RetainAvailable", "byte"),
    0x26: ("UserProperty", "pair"),
    0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"),
    0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROP_IDS = {name: (pid, typ) for pid, (name, typ) in PROPS.items()}
MULTI = {"UserProperty", "SubscriptionIdentifier"}


class Closed(ConnectionError):
    """The peer closed the connection (EOF or reset)."""


class Timeout(AssertionError):
    """Nothing (or not the expected thing) arrived before the deadline."""


class DecodeError(Exception):
    pass


# --- primitive encoders -----------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return struct.pack("!H", n)


def u32(n):
    return struct.pack("!I", n)


def bstr(s):
    """UTF-8 string / binary data with a two byte length prefix."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return u16(len(s)) + s


def encode_props(props):
    """props: dict name -> value, or list of (name, value).  Values of
    UserProperty are (key, value) pairs or a list of them;
    SubscriptionIdentifier may be an int or a list of ints."""
    if props is None:
        return b"\x00"
    items = props.items() if isinstance(props, dict) else props
    body = bytearray()
    for name, value in items:
        pid, typ = PROP_IDS[name]
        values = value if (name in MULTI and isinstance(value, list)) else [value]
        for v in values:
            body.append(pid)
            if typ == "byte":
                body.append(v)
            elif typ == "u16":
                body += u16(v)
            elif typ == "u32":
                body += u32(v)
            elif typ == "varint":
                body += varint(v)
            elif typ in ("str", "bin"):
                body += bstr(v)
            elif typ == "pair":
                body += bstr(v[0]) + bstr(v[1])
    return varint(len(body)) + bytes(body)


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


# --- packet builders --------------------------------------------------------

def connect_packet(client_id="", version=5, clean=True, keepalive=60, props=None,
                   will=None, username=None, password=None, proto_name=None,
                   proto_level=None, flags=None):
    """will: dict(topic=, payload=, qos=0, retain=False, props=None).
    flags overrides the computed connect flags byte (for malformed tests)."""
    if proto_name is None:
        proto_name = b"MQIsdp" if version == 3 else b"MQTT"
    level = version if proto_level is None else proto_level
    f = 0
    if clean:
        f |= 0x02
    if will is not None:
        f |= 0x04 | ((will.get("qos", 0) & 3) << 3)
        if will.get("retain"):
            f |= 0x20
    if username is not None:
        f |= 0x80
    if password is not None:
        f |= 0x40
    if flags is not None:
        f = flags
    vh = bstr(proto_name) + bytes([level, f]) + u16(keepalive)
    if version == 5:
        vh += encode_props(props)
    pl = bstr(client_id)
    if will is not None:
        if version == 5:
            pl += encode_props(will.get("props"))
        pl += bstr(will["topic"]) + bstr(will.get("payload", b""))
    if username is not None:
        pl += bstr(username)
    if password is not None:
        pl += bstr(password)
    return packet(CONNECT, 0, vh + pl)


def publish_packet(topic, payload=b"", qos=0, retain=False, dup=False, pid=None,
                   props=None, version=5):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = bstr(topic)
    if qos > 0:
        body += u16(pid if pid is not None else 1)
    if version == 5:
        body += encode_props(props)
    return packet(PUBLISH, flags, body + payload)


def ack_packet(ptype, pid, rc=None, props=None, version=5):
    """PUBACK / PUBREC / PUBREL / PUBCOMP."""
    flags = 0x02 if ptype == PUBREL else 0
    body = u16(pid)
    if version == 5 and (rc not in (None, 0) or props):
        body += bytes([rc or 0])
        if props:
            body += encode_props(props)
    return packet(ptype, flags, body)


def subscribe_packet(pid, filters, props=None, version=5):
    """filters: list of (filter, options_byte) or (filter, dict(qos, nl, rap, rh))."""
    body = u16(pid)
    if version == 5:
        body += encode_props(props)
    for flt, opts in filters:
        if isinstance(opts, dict):
            opts = (opts.get("qos", 0) | (0x04 if opts.get("nl") else 0)
                    | (0x08 if opts.get("rap") else 0) | (opts.get("rh", 0) << 4))
        body += bstr(flt) + bytes([opts])
    return packet(SUBSCRIBE, 0x02, body)


def unsubscribe_packet(pid, filters, props=None, version=5):
    body = u16(pid)
    if version == 5:
        body += encode_props(props)
    for flt in filters:
        body += bstr(flt)
    return packet(UNSUBSCRIBE, 0x02, body)


def disconnect_packet(rc=0, props=None, version=5):
    if version != 5 or (rc == 0 and not props):
        return packet(DISCONNECT, 0, b"")
    body = bytes([rc])
    if props:
        body += encode_props(props)
    return packet(DISCONNECT, 0, body)


PINGREQ_PACKET = packet(PINGREQ, 0, b"")


# --- decoding ---------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise DecodeError("truncated packet")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        mult, val = 1, 0
        for _ in range(4):
            b = self.byte()
            val += (b & 0x7F) * mult
            if not b & 0x80:
                return val
            mult *= 128
        raise DecodeError("bad varint")

    def bin(self):
        return self.take(self.u16())

    def str(self):
        return self.bin().decode("utf-8")

    def props(self):
        n = self.varint()
        end = self.pos + n
        out = {}
        while self.pos < end:
            pid = self.varint()
            if pid not in PROPS:
                raise DecodeError("unknown property 0x%02x" % pid)
            name, typ = PROPS[pid]
            v = {"byte": self.byte, "u16": self.u16, "u32": self.u32,
                 "varint": self.varint, "str": self.str, "bin": self.bin,
                 "pair": lambda: (self.str(), self.str())}[typ]()
            if name in MULTI:
                out.setdefault(name, []).append(v)
            else:
                out[name] = v
        return out

    def rest(self):
        return self.take(self.left())


class Packet:
    """A decoded packet.  Always: type, name, flags, raw (the body bytes).
    Depending on type: rc, rcs, props, session_present, topic, payload, qos,
    dup, retain, pid."""

    def __init__(self, ptype, flags, body, version):
        self.type = ptype
        self.name = PACKET_NAMES.get(ptype, "TYPE%d" % ptype)
        self.flags = flags
        self.raw = body
        self.version = version
        self.rc = None
        self.rcs = []
        self.props = {}
        self.pid = None
        self.topic = None
        self.payload = None
        self.qos = self.dup = self.retain = None
        self.session_present = None
        self._decode()

    def _decode(self):
        r = Reader(self.raw)
        v5 = self.version == 5
        t = self.type
        if t == CONNACK:
            self.session_present = bool(r.byte() & 1)
            self.rc = r.byte()
            if v5 and r.left():
                self.props = r.props()
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.dup = bool(self.flags & 8)
            self.retain = bool(self.flags & 1)
            self.topic = r.str()
            if self.qos:
                self.pid = r.u16()
            if v5:
                self.props = r.props()
            self.payload = r.rest()
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = r.u16()
            self.rc = r.byte() if r.left() else 0
            if r.left():
                self.props = r.props()
        elif t in (SUBACK, UNSUBACK):
            self.pid = r.u16()
            if v5:
                self.props = r.props()
            self.rcs = list(r.rest())
        elif t == DISCONNECT:
            self.rc = r.byte() if r.left() else 0
            if r.left():
                self.props = r.props()
        elif t == AUTH:
            self.rc = r.byte() if r.left() else 0
            if r.left():
                self.props = r.props()

    def __repr__(self):
        parts = [self.name]
        for k in ("rc", "rcs", "pid", "topic", "qos", "dup", "retain", "session_present"):
            v = getattr(self, k)
            if v not in (None, []):
                parts.append("%s=%r" % (k, v))
        if self.payload is not None:
            parts.append("payload=%r" % (self.payload[:40],))
        if self.props:
            parts.append("props=%r" % (self.props,))
        return "<%s>" % " ".join(parts)


# --- the client -------------------------------------------------------------

class RawClient:
    def __init__(self, host, port, version=5, rcvbuf=None, timeout=5.0):
        self.version = version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.closed = False
        self.next_pid = 1

    # sending
    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
            raise Closed("connection closed while sending: %s" % e)

    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    def connect(self, client_id="", timeout=5.0, **kw):
        """Send CONNECT and return the CONNACK (or raise Closed/Timeout)."""
        kw.setdefault("version", self.version)
        self.send(connect_packet(client_id, **kw))
        return self.expect(CONNACK, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=None):
        if qos and pid is None:
            pid = self.pid()
        self.send(publish_packet(topic, payload, qos, retain, dup, pid, props, self.version))
        return pid

    def publish_acked(self, topic, payload=b"", qos=1, timeout=5.0, **kw):
        """Publish at QoS 1/2 and complete the handshake; returns the final ack."""
        pid = self.publish(topic, payload, qos, **kw)
        if qos == 1:
            ack = self.expect(PUBACK, timeout)
            assert ack.pid == pid
            return ack
        rec = self.expect(PUBREC, timeout)
        assert rec.pid == pid
        if rec.rc is not None and rec.rc >= 0x80:
            return rec
        self.send(ack_packet(PUBREL, pid, version=self.version))
        comp = self.expect(PUBCOMP, timeout)
        assert comp.pid == pid
        return comp

    def subscribe(self, filters, props=None, timeout=5.0, qos=0, **opts):
        """filters: a filter string or a list of (filter, opts).  Returns SUBACK."""
        if isinstance(filters, str):
            o = dict(opts)
            o["qos"] = qos
            filters = [(filters, o)]
        pid = self.pid()
        self.send(subscribe_packet(pid, filters, props, self.version))
        ack = self.expect(SUBACK, timeout)
        assert ack.pid == pid, ack
        return ack

    def unsubscribe(self, filters, props=None, timeout=5.0):
        if isinstance(filters, str):
            filters = [filters]
        pid = self.pid()
        self.send(unsubscribe_packet(pid, filters, props, self.version))
        ack = self.expect(UNSUBACK, timeout)
        assert ack.pid == pid, ack
        return ack

    def ack(self, ptype, pid, rc=None, props=None):
        self.send(ack_packet(ptype, pid, rc, props, self.version))

    def puback(self, pid, rc=None):
        self.ack(PUBACK, pid, rc)

    def pubrec(self, pid, rc=None):
        self.ack(PUBREC, pid, rc)

    def pubrel(self, pid, rc=None):
        self.ack(PUBREL, pid, rc)

    def pubcomp(self, pid, rc=None):
        self.ack(PUBCOMP, pid, rc)

    def ping(self):
        self.send(PINGREQ_PACKET)

    def disconnect(self, rc=0, props=None, wait_closed=5.0):
        """Send DISCONNECT and wait (up to wait_closed seconds) for the server to close the
        connection: only then has it acted on the DISCONNECT, so a reconnect that follows
        cannot overtake it on another I/O thread."""
        try:
            self.send(disconnect_packet(rc, props, self.version))
        except OSError:
            self.close()
            return
        if wait_closed:
            self.wait_server_close(wait_closed)
        self.close()

    def wait_server_close(self, timeout):
        """Read (and drop) whatever still arrives until the server closes; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                self.sock.settimeout(remaining)
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True

    def close(self):
        """Close the TCP connection (abruptly, from MQTT's point of view)."""
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    # receiving
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("timed out waiting for data")
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            raise Closed("connection reset")
        if not data:
            raise Closed("connection closed by peer")
        self.buf += data

    def recv(self, timeout=5.0):
        """Read one packet.  Raises Timeout or Closed."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._try_parse()
            if got is not None:
                return got
            self._fill(deadline)

    def _try_parse(self):
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise DecodeError("bad remaining length from broker")
        if len(self.buf) < i + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + length])
        del self.buf[:i + length]
        return Packet(first >> 4, first & 0x0F, body, self.version)

    def expect(self, ptype, timeout=5.0):
        """The next packet must be of type ptype."""
        try:
            p = self.recv(timeout)
        except Timeout:
            raise Timeout("expected %s, nothing arrived within %.1fs" % (PACKET_NAMES[ptype], timeout))
        if p.type != ptype:
            raise AssertionError("expected %s, got %r" % (PACKET_NAMES[ptype], p))
        return p

    def recv_until(self, pred, timeout=5.0):
        """Read packets until pred(packet) is true; returns (match, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("no matching packet within %.1fs; got %r" % (timeout, skipped))
            try:
                p = self.recv(remaining)
            except Timeout:
                raise Timeout("no matching packet within %.1fs; got %r" % (timeout, skipped))
            if pred(p):
                return p, skipped
            skipped.append(p)

    def recv_all(self, duration):
        """Everything that arrives within `duration` seconds (stops early on close)."""
        deadline = time.monotonic() + duration
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                out.append(self.recv(remaining))
            except Timeout:
                return out
            except Closed:
                return out

    def wait_closed(self, timeout=5.0):
        """Read until the broker closes the connection; returns packets read
        before the close.  Raises Timeout if still open at the deadline."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("connection still open after %.1fs; got %r" % (timeout, out))
            try:
                out.append(self.recv(remaining))
            except Timeout:
                raise Timeout("connection still open after %.1fs; got %r" % (timeout, out))
            except Closed:
                self.closed = True
                return out
            except DecodeError:
                # the broker may have sent a partial packet and closed
                self.buf.clear()

    def is_open(self, wait=0.0):
        """True if no EOF/reset is seen within `wait` seconds (packets are buffered)."""
        deadline = time.monotonic() + wait
        try:
            while True:
                remaining = deadline - time.monotonic()
                self.sock.settimeout(max(remaining, 0.001))
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.buf += data
                if remaining <= 0:
                    return True
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def payload_len_for_size(total, topic="t", qos=0, props=None, version=5):
    """The payload length that makes a PUBLISH exactly `total` bytes long."""
    n = max(total - len(publish_packet(topic, b"", qos, pid=1, props=props, version=version)), 0)
    for _ in range(8):
        size = len(publish_packet(topic, b"x" * n, qos, pid=1, props=props, version=version))
        if size == total:
            return n
        n += total - size
        if n < 0:
            break
    raise ValueError("cannot build a PUBLISH of %d bytes" % total)


def publish_of_size(total, topic="t", qos=0, props=None, version=5, pid=1):
    """A PUBLISH packet whose complete encoded size is exactly `total` bytes."""
    n = payload_len_for_size(total, topic, qos, props, version)
    return publish_packet(topic, b"x" * n, qos, pid=pid, props=props, version=version)
