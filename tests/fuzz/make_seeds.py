#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Each seed is a complete, valid input of its kind (MQTT packets of 3.1.1 and 5, WebSocket upgrades
and frames, admin API requests for every route, cluster frames and handshakes, configuration
files, evacuation files), so that the fuzzers start from the code's working paths instead of
having to find their way past the first parser. The byte(s) each target reads first to pick its
mode are documented at the top of its .cpp file.

Run it again after changing a format: it rewrites the seeds it makes and leaves the others (the
regression-* inputs that once crashed a target) alone. Only the standard library is needed.

    /usr/bin/python3 tests/fuzz/make_seeds.py
"""

import base64
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

NODE = "fuzz@127.0.0.1"  # the node name of the admin and cluster fuzz targets (fuzz_node.hpp)
PEER = "n2@127.0.0.1"    # the authenticated peer of cluster_frame_fuzz
AUTH = "Basic " + base64.b64encode(b"admin:public").decode()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- MQTT --------------------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def mstr(s):
    if isinstance(s, str):
        s = s.encode()
    return u16(len(s)) + s


def props(*items):
    """MQTT 5 property block; items are (id, encoded value)."""
    body = b"".join(varint(i) + v for i, v in items)
    return varint(len(body)) + body


def user_prop(k, v):
    return (0x26, mstr(k) + mstr(v))


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(level=4, client_id="client-1", clean=True, keep_alive=60, will=None, username=None,
            password=None, cprops=None, name="MQTT"):
    v5 = level == 5
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will["qos"] << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    body = mstr(name) + bytes([level, flags]) + u16(keep_alive)
    if v5:
        body += cprops if cprops is not None else props()
    body += mstr(client_id)
    if will:
        if v5:
            body += will.get("props", props())
        body += mstr(will["topic"]) + mstr(will["payload"])
    if username is not None:
        body += mstr(username)
    if password is not None:
        body += mstr(password)
    return packet(0x10, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=1, v5=False, pprops=None):
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (u16(pid) if qos else b"")
    if v5:
        body += pprops if pprops is not None else props()
    return packet(first, body + (payload.encode() if isinstance(payload, str) else payload))


def pubresp(kind, pid, reason=None, rprops=None):
    first = {4: 0x40, 5: 0x50, 6: 0x62, 7: 0x70}[kind]
    body = u16(pid)
    if reason is not None:
        body += bytes([reason])
        if rprops is not None:
            body += rprops
    return packet(first, body)


def subscribe(pid, entries, v5=False, sprops=None):
    body = u16(pid)
    if v5:
        body += sprops if sprops is not None else props()
    for f, o in entries:
        body += mstr(f) + bytes([o])
    return packet(0x82, body)


def unsubscribe(pid, filters, v5=False, uprops=None):
    body = u16(pid)
    if v5:
        body += uprops if uprops is not None else props()
    for f in filters:
        body += mstr(f)
    return packet(0xA2, body)


def mqtt_seeds():
    t = "mqtt_codec_fuzz"
    # Byte 0: level index (0: before CONNECT, 1: 3.1, 2: 3.1.1, 3: 5) | max size index << 2.
    def seed(name, level_index, data, size_index=7):
        write(t, name, bytes([level_index | (size_index << 2)]) + data)

    will5 = {"qos": 1, "retain": True, "topic": "will/t", "payload": "gone",
             "props": props((0x18, u32(5)), (0x01, b"\x01"), (0x02, u32(60)), (0x03, mstr("text/plain")),
                            (0x08, mstr("resp/t")), (0x09, mstr("corr")), user_prop("k", "v"))}
    c311 = connect(4, "c311", keep_alive=30)
    c5 = connect(5, "c5", cprops=props((0x11, u32(3600)), (0x21, u16(20)), (0x27, u32(65536)), (0x22, u16(10)),
                                      (0x19, b"\x01"), (0x17, b"\x00"), user_prop("app", "fuzz")))
    seed("connect_311", 0, c311)
    seed("connect_311_will_user", 0, connect(4, "c2", clean=False, will={"qos": 2, "topic": "w", "payload": "x"},
                                             username="user", password="pass"))
    seed("connect_31_mqisdp", 0, connect(3, "old-client", name="MQIsdp"))
    seed("connect_5_props", 0, c5)
    seed("connect_5_will_auth", 0, connect(5, "", will=will5, username="u", password=b"\x00\x01",
                                           cprops=props((0x15, mstr("SCRAM-SHA-1")), (0x16, mstr(b"\x01\x02")))))
    seed("connect_unknown_level", 0, connect(6, "x"))
    # Whole sessions: CONNECT, then what a client sends on the connection.
    seed("session_311", 0, c311 + subscribe(1, [("a/b", 1), ("c/#", 2)]) + publish("a/b", "hello", qos=1, pid=2) +
         pubresp(5, 3) + pubresp(6, 4) + pubresp(7, 5) + pubresp(4, 6) + unsubscribe(7, ["a/b"]) +
         packet(0xC0, b"") + packet(0xE0, b""))
    seed("session_5", 0, c5 + subscribe(1, [("a/+", 0x2D), ("$share/g/x", 0x01)], v5=True,
                                         sprops=props((0x0B, varint(42)), user_prop("s", "1"))) +
         publish("a/b", "payload", qos=2, pid=9, v5=True,
                 pprops=props((0x01, b"\x01"), (0x02, u32(10)), (0x23, u16(3)), (0x08, mstr("r")),
                              (0x09, mstr("c")), user_prop("x", "y"), (0x03, mstr("json")))) +
         pubresp(6, 9, 0x00) + pubresp(4, 10, 0x10, props((0x1F, mstr("no subscribers")))) +
         unsubscribe(2, ["a/+"], v5=True, uprops=props(user_prop("u", "1"))) + packet(0xC0, b"") +
         packet(0xE0, bytes([0x04]) + props((0x11, u32(0)), (0x1F, mstr("bye")), user_prop("a", "b"))))
    # Single packets at a known level (as after CONNECT).
    for name, level_index, data in [
        ("publish_qos0", 2, publish("t", "p")),
        ("publish_qos1_dup_retain", 2, publish("t/1", b"\x00\xff", qos=1, retain=True, dup=True, pid=65535)),
        ("publish_qos2", 2, publish("t/2", "", qos=2, pid=2)),
        ("puback", 2, pubresp(4, 1)),
        ("pubrel", 2, pubresp(6, 1)),
        ("subscribe_311", 2, subscribe(3, [("#", 0), ("+/x", 1)])),
        ("unsubscribe_311", 2, unsubscribe(3, ["#", "+/x"])),
        ("pingreq", 2, packet(0xC0, b"")),
        ("disconnect_311", 2, packet(0xE0, b"")),
        ("connack_311", 2, packet(0x20, b"\x01\x00")),
        ("suback_311", 2, packet(0x90, u16(3) + b"\x00\x01\x80")),
        ("unsuback_311", 2, packet(0xB0, u16(3))),
        ("pingresp", 2, packet(0xD0, b"")),
        ("publish_v5_subids", 3, publish("s", "p", qos=1, pid=5, v5=True,
                                        pprops=props((0x0B, varint(1)), (0x0B, varint(268435455))))),
        ("pubrec_v5_reason", 3, pubresp(5, 7, 0x87, props((0x1F, mstr("not authorized")), user_prop("k", "v")))),
        ("pubcomp_v5", 3, pubresp(7, 7, 0x92)),
        ("connack_v5", 3, packet(0x20, b"\x00\x00" + props(
            (0x11, u32(100)), (0x21, u16(10)), (0x24, b"\x01"), (0x25, b"\x01"), (0x27, u32(1048576)),
            (0x12, mstr("assigned")), (0x22, u16(5)), (0x1F, mstr("ok")), user_prop("a", "b"), (0x28, b"\x01"),
            (0x29, b"\x01"), (0x2A, b"\x00"), (0x13, u16(30)), (0x1A, mstr("info")), (0x1C, mstr("other:1883")),
            (0x15, mstr("m")), (0x16, mstr("d"))))),
        ("suback_v5", 3, packet(0x90, u16(4) + props((0x1F, mstr("r"))) + b"\x00\x02\x87")),
        ("unsuback_v5", 3, packet(0xB0, u16(4) + props(user_prop("a", "b")) + b"\x00\x11")),
        ("disconnect_v5_server_ref", 3, packet(0xE0, b"\x9c" + props((0x1C, mstr("10.0.0.2:1883"))))),
        ("auth_v5", 3, packet(0xF0, b"\x18" + props((0x15, mstr("SCRAM")), (0x16, mstr("data")), (0x1F, mstr("continue"))))),
        ("auth_v5_empty", 3, packet(0xF0, b"")),
    ]:
        seed(name, level_index, data)
    # Small maximum packet sizes (64 and 128 bytes) around a packet that just fits.
    seed("max64_publish", 2, publish("t", "x" * 58), size_index=0)
    seed("max128_connect_5", 0, c5, size_index=1)
    seed("large_remaining_length", 2, publish("big", b"z" * 20000), size_index=4)


# ---- WebSocket -----------------------------------------------------------------------------------

def ws_frame(opcode, payload, fin=True, mask=b"\x11\x22\x33\x44"):
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + u16(n)
    else:
        head = bytes([first, 0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def upgrade_request(path="/mqtt", protocols="mqtt", version="1.1", extra=""):
    lines = [f"GET {path} HTTP/{version}", "Host: broker.example:8083", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if protocols is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


def ws_seeds():
    t = "ws_upgrade_fuzz"
    # Byte 0: bit 0 = frames phase; bits 1-7 = bytes per read (0: all at once).
    def up(name, text, read_size=0):
        write(t, name, bytes([read_size << 1]) + (text.encode() if isinstance(text, str) else text))

    def frames(name, data, read_size=0):
        write(t, name, bytes([1 | (read_size << 1)]) + data)

    up("upgrade_mqtt", upgrade_request())
    up("upgrade_mqtt_slow_reads", upgrade_request(), read_size=7)
    up("upgrade_mqttv31", upgrade_request(protocols="mqttv3.1"))
    up("upgrade_offers_several", upgrade_request(protocols="wamp, MQTT , mqttv3.1"))
    up("upgrade_two_protocol_headers", upgrade_request(protocols="chat", extra="Sec-WebSocket-Protocol: mqtt\r\n"))
    up("upgrade_no_protocol", upgrade_request(protocols=None))
    up("upgrade_unsupported_protocol", upgrade_request(protocols="chat"))
    up("upgrade_wrong_path", upgrade_request(path="/ws?x=1"))
    up("upgrade_query", upgrade_request(path="/mqtt?token=abc"))
    up("upgrade_http10", upgrade_request(version="1.0"))
    up("upgrade_bad_key", upgrade_request().replace("dGhlIHNhbXBsZSBub25jZQ==", "short"))
    up("upgrade_early_data", upgrade_request() + "\x82\x80abcd")
    up("plain_get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    up("not_http", "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
    up("header_too_large", "GET /mqtt HTTP/1.1\r\nX-Big: " + "a" * 17000 + "\r\n\r\n")
    up("chunked_body", upgrade_request(extra="Transfer-Encoding: chunked\r\n") + "0\r\n\r\n")
    connect_packet = connect(4, "ws-client")
    frames("binary_connect", ws_frame(2, connect_packet))
    frames("binary_fragments", ws_frame(2, connect_packet[:5], fin=False) + ws_frame(0, connect_packet[5:]), read_size=3)
    frames("ping_then_binary", ws_frame(9, b"hi") + ws_frame(2, b"\xc0\x00"))
    frames("close", ws_frame(2, b"\xc0\x00") + ws_frame(8, u16(1000) + b"bye"))
    frames("text_frame", ws_frame(1, b"not binary"))
    frames("length_16", ws_frame(2, b"x" * 300))
    frames("length_64", ws_frame(2, b"y" * 70000)[:200])  # announces 70000 bytes, sends few


# ---- admin HTTP ----------------------------------------------------------------------------------

def http_request(method, path, body=None, auth=True, close=False, headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:8081"]
    if auth:
        lines.append(f"Authorization: {AUTH}")
    lines += list(headers)
    if close:
        lines.append("Connection: close")
    data = b""
    if body is not None:
        data = (json.dumps(body) if not isinstance(body, (str, bytes)) else body)
        data = data.encode() if isinstance(data, str) else data
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


EVACUATION_BODY = {"conn_evict_rate": 10, "sess_evict_rate": 10, "wait_takeover": 1, "wait_health_check": "1s",
                   "redirect_to": "other.example:1883", "redirect_policy": "least_loaded"}
REBALANCE_BODY = {"conn_evict_rate": 5, "sess_evict_rate": 5, "wait_takeover": "30s", "wait_health_check": 0,
                  "abs_conn_threshold": 100, "rel_conn_threshold": 1.2, "abs_sess_threshold": 100,
                  "rel_sess_threshold": 1.5, "nodes": [NODE], "conn_evict_rpc_timeout": 5000,
                  "sess_evict_rpc_timeout": "2s"}


def admin_seeds():
    t = "admin_http_fuzz"
    # Byte 0: bit 0 = a clustered node (a cluster of one) instead of clustering off.
    def seed(name, *requests, clustered=False):
        write(t, name, bytes([1 if clustered else 0]) + b"".join(requests))

    r = http_request
    seed("nodes", r("GET", "/api/v4/nodes"), r("GET", f"/api/v4/nodes/{NODE}"), r("GET", f"/api/v4/nodes/{NODE}/stats"),
         r("GET", "/api/v4/stats"))
    seed("clients", r("GET", "/api/v4/clients?_page=1&_limit=1"), r("GET", "/api/v4/clients/c1"),
         r("GET", "/api/v4/subscriptions?_limit=2"), r("DELETE", "/api/v4/clients/c2"))
    seed("publish", r("POST", "/api/v4/mqtt/publish", {"topic": "fuzz/x", "payload": "aGk=", "encoding": "base64",
                                                       "qos": 1, "retain": True, "clientid": "api"}))
    seed("api_keys", r("POST", "/api/v4/api_keys", {"key": "k1", "description": "fuzz"}), r("GET", "/api/v4/api_keys"),
         r("DELETE", "/api/v4/api_keys/k1"))
    seed("users", r("GET", "/api/v4/auth_username"), r("POST", "/api/v4/auth_username", {"username": "u2", "password": "p"}),
         r("PUT", "/api/v4/auth_username/fuzzuser", {"password": "new"}), r("DELETE", "/api/v4/auth_username/fuzzuser"))
    seed("metrics", r("GET", "/metrics"), r("GET", "/metrics", auth=False))
    seed("cluster_standalone", r("GET", "/api/v4/cluster"), r("GET", "/api/v4/routes"),
         r("POST", "/api/v4/cluster/join", {"node": "n2@127.0.0.1:4370"}), r("POST", "/api/v4/cluster/leave"))
    seed("cluster_clustered", r("GET", "/api/v4/cluster"), r("GET", "/api/v4/routes"), r("GET", "/api/v4/nodes"),
         r("GET", "/api/v4/clients/c2"), r("POST", "/api/v4/clients/c2/migrate", {"node": NODE}),
         r("DELETE", "/api/v4/clients/c1"), r("POST", "/api/v4/cluster/leave"), clustered=True)
    seed("unauthorized", r("GET", "/api/v4/nodes", auth=False),
         r("GET", "/api/v4/nodes", auth=False, headers=["Authorization: Basic YWRtaW46d3Jvbmc="]),
         r("GET", "/api/v4/nodes", auth=False, headers=["Authorization: Bearer abc"]),
         r("GET", "/api/v4/load_rebalance/availability_check", auth=False), r("GET", "/nowhere"),
         r("PATCH", "/api/v4/nodes"))
    for api in ("v4", "v5"):
        base = f"/api/{api}/load_rebalance"
        for clustered in (False, True):
            suffix = "_clustered" if clustered else ""
            seed(f"rebalance_{api}_evacuation{suffix}",
                 r("POST", f"{base}/{NODE}/evacuation/start", EVACUATION_BODY),
                 r("POST", f"{base}/{NODE}/evacuation/start", {"conn_evict_rate": 50, "redirect_to": None,
                                                               "migrate_to": [PEER], "nodes": [NODE]}),
                 r("GET", f"{base}/status"), r("GET", f"{base}/{NODE}/status"), r("GET", f"{base}/global_status"),
                 r("GET", f"/api/{api}/node_eviction/status"), r("GET", f"{base}/availability_check", auth=False),
                 r("POST", f"{base}/{NODE}/evacuation/stop"), clustered=clustered)
            seed(f"rebalance_{api}_start{suffix}",
                 r("POST", f"{base}/{NODE}/plan", REBALANCE_BODY), r("POST", f"{base}/{NODE}/start", REBALANCE_BODY),
                 r("POST", f"{base}/{NODE}/start", {}), r("GET", f"{base}/global_status"),
                 r("POST", f"{base}/{NODE}/stop"), clustered=clustered)
        seed(f"rebalance_{api}_bad_bodies", r("POST", f"{base}/{NODE}/start", {"conn_evict_rate": 0, "nodes": []}),
             r("POST", f"{base}/{NODE}/evacuation/start", {"migrate_to": [NODE], "wait_takeover": "forever"}),
             r("POST", f"{base}/{NODE}/plan", "not json"), r("POST", f"{base}/other@host/start", {"nodes": "x"}),
             r("POST", f"{base}/{NODE}/start", {"unknown_option": 1}))
    # Framing 1: one request, its Content-Length set by the target (byte 0 bit 1).
    framed = [("publish", r("POST", "/api/v4/mqtt/publish", {"topic": "fuzz/x", "payload": "hi", "qos": 2})),
              ("api_key", r("POST", "/api/v4/api_keys", {"key": "k2", "description": "d"})),
              ("user", r("POST", "/api/v4/auth_username", {"username": "u3", "password": "p"})),
              ("user_password", r("PUT", "/api/v4/auth_username/fuzzuser", {"password": "p2"})),
              ("migrate", r("POST", "/api/v4/clients/c2/migrate", {"node": NODE}))]
    for api in ("v4", "v5"):
        base = f"/api/{api}/load_rebalance/{NODE}"
        framed += [(f"{api}_evacuation", r("POST", f"{base}/evacuation/start", EVACUATION_BODY)),
                   (f"{api}_evacuation_migrate_to", r("POST", f"{base}/evacuation/start",
                                                      {"migrate_to": [PEER], "redirect_to": None})),
                   (f"{api}_rebalance", r("POST", f"{base}/start", REBALANCE_BODY)),
                   (f"{api}_plan", r("POST", f"{base}/plan", REBALANCE_BODY))]
    for name, request in framed:
        write(t, "framed_" + name, bytes([2 | (1 if name == "migrate" else 0)]) + request)
    seed("pipelined_close", r("GET", "/api/v4/stats"), r("GET", "/api/v4/nodes", close=True), r("GET", "/api/v4/stats"))
    parts = [b'{"topic":"a/b",', b'"payload":"x"}']
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    seed("body_chunked", b"POST /api/v4/mqtt/publish HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode() +
         b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)


# ---- cluster -------------------------------------------------------------------------------------

def msgpack(v):
    """The MessagePack subset the cluster's control messages use (what nlohmann's to_msgpack writes)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 2**8:
            return b"\xcc" + bytes([v])
        if 0 <= v < 2**16:
            return b"\xcd" + u16(v)
        if 0 <= v < 2**32:
            return b"\xce" + u32(v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        s = v.encode()
        if len(s) < 32:
            return bytes([0xA0 | len(s)]) + s
        if len(s) < 256:
            return b"\xd9" + bytes([len(s)]) + s
        return b"\xda" + u16(len(s)) + s
    if isinstance(v, bytes):
        if len(v) < 256:
            return b"\xc4" + bytes([len(v)]) + v
        return b"\xc5" + u16(len(v)) + v
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + u16(len(v))
        return head + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + u16(len(v))
        return head + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError(type(v))


FRAME = {"challenge": 1, "auth": 2, "welcome": 3, "control": 4, "forward": 5, "heartbeat": 6, "deliver": 7}


def frame(kind, payload=b""):
    return u32(len(payload) + 1) + bytes([FRAME[kind]]) + payload


def control(method, args, call_id=0):
    return frame("control", msgpack({"m": method, "i": call_id, "a": args}))


def record(uid, topic, payload, qos=0, retain=False, match_local=False, store_retained=False, publisher="pub",
           expiry_ms=None, mprops=None, shared=None):
    flags = qos | (4 if retain else 0) | (8 if match_local else 0) | (16 if store_retained else 0)
    flags |= (32 if mprops is not None else 0) | (64 if expiry_ms is not None else 0) | (128 if shared else 0)
    out = struct.pack(">Q", uid) + bytes([flags]) + mstr(topic) + mstr(publisher) + u32(len(payload)) + payload
    if expiry_ms is not None:
        out += u32(expiry_ms)
    if mprops is not None:
        out += mprops
    if shared:
        out += u16(len(shared)) + b"".join(mstr(s) for s in shared)
    return out


def forward(*records):
    return frame("forward", u16(len(records)) + b"".join(records))


def deliver(client_id, qos, retain, sub_ids, rec):
    flags = qos | (4 if retain else 0)
    return frame("deliver", mstr(client_id) + bytes([flags]) + u32(len(sub_ids)) + b"".join(u32(i) for i in sub_ids) + rec)


def snapshot(client_id):
    message = {"topic": "a/b", "payload": b"queued", "qos": 1, "retain": False,
               "props": {"message_expiry": 60, "user_properties": [["k", "v"]], "correlation_data": b"\x01"},
               "publisher": "p", "expiry_remaining": 30, "subscription_ids": [7], "uid": 99}
    return {"client_id": client_id, "protocol_level": 5, "next_packet_id": 3, "expiry_interval": 3600,
            "incoming_qos2": [5], "subscriptions": [{"filter": "a/#", "qos": 1, "no_local": False,
                                                    "retain_as_published": True, "retain_handling": 0,
                                                    "subscription_id": 7}],
            "inflight": [{"packet_id": 1, "pubrel_sent": False, "message": message}], "queue": [message],
            "will": {"topic": "w", "payload": b"bye", "qos": 0, "retain": False, "props": {"will_delay": 5}},
            "will_delay_remaining": 5, "expiry_remaining": 3600,
            "client": {"keep_alive": 30, "clean_start": False, "username": "u", "peer_address": "10.0.0.1:5000",
                       "connected_at_ms": 1700000000000}}


DONOR_VIEW = {"state": "evicting_conns", "coordinator_node": PEER, "connection_eviction_rate": 10,
              "session_eviction_rate": 10, "connection_eviction_rpc_timeout": 5000,
              "session_eviction_rpc_timeout": 5000, "recipients": [PEER], "initial_connected": 1,
              "initial_sessions": 2, "connection_goal": 0.5, "disconnected_session_goal": 1.0, "progress": 10,
              "eta_seconds": None}


def jsonable(v):
    """`v` with bytes as strings (JSON has no binary; the snapshot decoder takes either)."""
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def cluster_seeds():
    t = "cluster_frame_fuzz"
    # Byte 0: mode | k << 3 (k*k*4 bytes per read). Modes: 0 frames, 1 frames under the handshake
    # limit, 2 link, 3 accept, 4 connect, 5 connect to n2, 6 control messages as JSON lines.
    FRAMES, FRAMES_HANDSHAKE_LIMIT, LINK, ACCEPT, CONNECT, CONNECT_N2, JSON_LINES = range(7)

    def seed(name, mode, data, k=0):
        write(t, name, bytes([mode | (k << 3)]) + data)

    props5 = props((0x01, b"\x01"), (0x03, mstr("text/plain")), (0x08, mstr("reply/to")), (0x09, mstr(b"\x00id")),
                   user_prop("k", "v"), (0x0B, varint(3)))
    traffic = (frame("heartbeat") +
               forward(record(1, "a/b", b"retained", qos=1, retain=True, store_retained=True, match_local=True),
                       record(2, "fuzz/x", b"shared", qos=2, mprops=props5, expiry_ms=60000,
                              shared=["$share/g/fuzz/+"], match_local=True)) +
               deliver("c1", 1, False, [7, 9], record(3, "fuzz/d", b"direct", qos=1, publisher="c9")) +
               frame("heartbeat"))
    seed("frames_traffic", FRAMES, traffic)
    seed("link_traffic", LINK, traffic, k=3)
    seed("frames_handshake_limit", FRAMES_HANDSHAKE_LIMIT, traffic)
    # The control methods a peer may call on this node, with the arguments they take.
    evac_body = json.dumps(EVACUATION_BODY)
    calls = [
        ("node.info.v1", {}), ("node.stats.v1", {}), ("client.info.v1", {"c": "c1"}), ("client.kick.v1", {"c": "c1"}),
        ("rebalance.agent.v1", {}), ("rebalance.status.v1", {"api": "v5"}),
        ("rebalance.global_entry.v1", {"api": "v4"}), ("rebalance.counts.v1", {}),
        ("rebalance.evacuation.start.v1", {"body": evac_body, "api": "v4"}),
        ("rebalance.evacuation.stop.v1", {}),
        ("rebalance.evacuation.start.v1", {"body": json.dumps({"conn_evict_rate": 10, "redirect_to": "x:1883",
                                                               "wait_health_check": 0}), "api": "v5"}),
        ("rebalance.evacuation.stop.v1", {}),
        ("rebalance.start.v1", {"body": json.dumps(REBALANCE_BODY), "api": "v5"}), ("rebalance.stop.v1", {}),
        ("rebalance.start.v1", {"body": ""}), ("rebalance.stop.v1", {}),
        ("rebalance.plan.v1", {"body": json.dumps({"nodes": [NODE]})}),
        ("rebalance.donor.enable.v1", {"coordinator": PEER, "server_reference": "x:1883", "allow_connections": False,
                                       "view": DONOR_VIEW}),
        ("rebalance.donor.renew.v1", {"coordinator": PEER, "view": DONOR_VIEW}),
        ("rebalance.donor.evict_conns.v1", {"count": 1, "rate": 10}),
        ("rebalance.donor.evict_sessions.v1", {"count": 1, "rate": 10, "targets": [PEER]}),
        ("rebalance.donor.release.v1", {"coordinator": PEER}),
        ("rebalance.agent.changed.v1", {"node": PEER, "enabled": False, "incarnation": 3, "generation": 4}),
        ("no.such.method", {}),
    ]
    seed("control_methods", FRAMES, b"".join(control(m, a, i + 1) for i, (m, a) in enumerate(calls)))
    seed("control_reply_and_junk", FRAMES, frame("control", msgpack({"r": 5, "ok": True})) +
         frame("control", msgpack({"m": 7})) + frame("control", b"\xc1"))
    # The session handoff protocol (handoff.*), as n2 would send it.
    handoff = [
        ("handoff.locate.v1", {"c": "c1", "n": PEER, "r": 1}),
        ("handoff.located.v1", {"c": "c1", "r": 1, "holder": [NODE, 5], "t": 9}),
        ("handoff.owned.v1", {"c": "c1", "n": PEER, "e": 7}),
        ("handoff.takeover.v1", {"c": "c1", "clean": False, "e": 2**40, "r": 2}),
        ("handoff.taken.v1", {"r": 2, "c": "c1", "none": True}),
        ("handoff.import.v1", {"r": 3, "items": [{"s": snapshot("m1"), "e": 11}]}),
        ("handoff.imported.v1", {"r": 3, "results": [{"e": 12, "queued": 1, "inflight": 0}, {"error": "no"}]}),
        ("handoff.commit.v1", {"n": PEER, "r": 4, "items": [["c2", NODE, 1]]}),
        ("handoff.committed.v1", {"r": 4, "epochs": [13, 0]}),
        ("handoff.fence.v1", {"c": "c2", "n": PEER, "e": 3, "r": 5}),
        ("handoff.fenced.v1", {"r": 5, "e": 4}),
        ("handoff.release.v1", {"c": "c2", "n": PEER, "e": 3}),
        ("handoff.adopt.v1", {"entries": [["c3", PEER, 8], ["c1", NODE, 9]]}),
        ("handoff.stale.v1", {"c": "c1", "e": 1}),
        ("handoff.routed.v1", {"items": [{"c": "c1", "e": 9, "marks": [PEER]}]}),
        ("handoff.barrier.v1", {"items": [{"c": "c1", "e": 9, "old": PEER, "ended": False}]}),
        ("handoff.mark.v1", {"items": [{"c": "c1", "e": 9, "n": PEER}, {"c": "c1", "e": 9, "unreached": True}]}),
        ("handoff.end.v1", {"items": [{"c": "c1", "e": 9}]}),
        ("handoff.ended.v1", {"items": [{"c": "c1", "e": 9, "n": NODE}]}),
        ("handoff.flushed.v1", {"items": [{"c": "c1", "e": 9}]}),
    ]
    seed("handoff_messages", FRAMES, b"".join(control(m, a) for m, a in handoff) + frame("heartbeat") * 3)
    seed("handoff_import", LINK, control("handoff.import.v1", {"r": 1, "items": [{"s": snapshot("c1"), "e": 1},
                                                                            {"s": snapshot("z9"), "e": 2}]}) +
         frame("heartbeat") * 6)
    seed("handoff_takeover_c2", FRAMES, control("handoff.takeover.v1", {"c": "c2", "clean": True, "e": 2**50, "r": 1}) +
         frame("heartbeat") * 6)
    # The same calls and messages as JSON lines (a line that is not an object is a heartbeat).
    seed("json_methods", JSON_LINES, "\n".join(json.dumps({"m": m, "i": i + 1, "a": a})
                                               for i, (m, a) in enumerate(calls)).encode())
    seed("json_handoff", JSON_LINES, "\n".join([json.dumps({"m": m, "a": jsonable(a)}) for m, a in handoff] +
                                               ["0", "0", "0"]).encode())
    # Handshakes: what a connecting node sends (accept side), what the accepting node answers.
    nonce = "00112233445566778899aabbccddeeff"
    auth = frame("auth", msgpack({"node": PEER, "nonce": nonce, "proof": "ab" * 32, "host": "127.0.0.2", "port": 4370}))
    seed("accept_auth", ACCEPT, auth)
    seed("accept_auth_split", ACCEPT, auth + traffic, k=1)
    seed("accept_bad_type", ACCEPT, frame("control", msgpack({"node": PEER})))
    seed("accept_too_large", ACCEPT, u32(5000) + b"\x02")
    challenge = frame("challenge", msgpack({"node": PEER, "nonce": nonce}))
    seed("connect_welcome", CONNECT_N2, challenge + frame("welcome", msgpack({"node": PEER, "proof": "cd" * 32})))
    seed("connect_refused", CONNECT, challenge + frame("welcome", msgpack({"error": "cookie mismatch"})))
    seed("connect_other_name", CONNECT_N2, challenge)


# ---- configuration and evacuation file -----------------------------------------------------------

def config_seeds():
    t = "config_fuzz"
    with open(os.path.join(ROOT, "conf", "tidemq.conf"), "rb") as f:
        shipped = f.read()
    write(t, "shipped_tidemq.conf", shipped)
    write(t, "minimal.conf", 'node.name = "a@127.0.0.1"\n')
    write(t, "listeners.conf", b"""node.name = "n1@127.0.0.1"
node.data_dir = "/var/lib/tidemq"
listeners.tcp.default.bind = "0.0.0.0:1883"
listeners.tcp.internal.bind = "127.0.0.1:11883"
listeners.ws.default.bind = "8083"
listeners.ws.default.path = "/mqtt"
listeners.ssl.default.bind = "[::1]:8883"
listeners.ssl.default.certfile = "cert.pem"
listeners.ssl.default.keyfile = "key.pem"
listeners.ssl.default.cacertfile = "ca.pem"
listeners.ssl.default.verify = "verify_peer"
mqtt.max_packet_size = 65536
mqtt.max_qos_allowed = 1
log.level = "debug"
""")
    write(t, "cluster_auth.conf", b"""[cluster]
cookie = "s3cret"
discovery = "static"
static.seeds = ["n2@127.0.0.2", "n3@[::1]:4370"]
heartbeat_interval = "500ms"

[authentication]
allow_anonymous = false
password_file = "passwd"

[[authorization.rules]]
permission = "allow"
action = "publish"
topics = ["a/#", "$SYS/#"]
username = "u1"
ipaddr = "10.0.0.0/8"

[[authorization.rules]]
permission = "deny"
action = "all"
topics = ["#"]
clientid = "bad"
""")
    write(t, "overrides.conf", b'mqtt.max_qos_allowed = 2\n\0TIDEMQ_MQTT__MAX_QOS_ALLOWED=1\0node.io_threads=2\0'
                               b'TIDEMQ_LOG__LEVEL=warning\0management.listener.http.bind=""')


def evacuation_seeds():
    t = "evacuation_file_fuzz"
    full = {"server_reference": "other.example:1883", "conn_evict_rate": 500, "sess_evict_rate": 500,
            "wait_takeover": 60, "wait_health_check": 0, "migrate_to": ["n2@127.0.0.1", "n3@127.0.0.1"],
            "redirect_policy": "least_loaded"}
    write(t, "full", json.dumps(full, indent=2) + "\n")
    write(t, "defaults", json.dumps({"server_reference": None, "conn_evict_rate": 500, "sess_evict_rate": 500,
                                     "wait_takeover": 60, "wait_health_check": 0, "migrate_to": None}, indent=2) + "\n")
    write(t, "empty_object", "{}")
    write(t, "out_of_range", json.dumps({"conn_evict_rate": 0, "sess_evict_rate": 2**31, "wait_takeover": -1,
                                         "wait_health_check": 4294968, "migrate_to": []}))
    write(t, "wrong_types", json.dumps({"server_reference": 5, "conn_evict_rate": 1.5, "migrate_to": [1],
                                        "wait_takeover": "60"}))
    write(t, "truncated", json.dumps(full)[:40])


# ---- dictionaries -------------------------------------------------------------------------------

def dict_line(value):
    if isinstance(value, str):
        value = value.encode()
    out = ""
    for b in value:
        c = chr(b)
        out += "\\" + c if c in '"\\' else c if 0x20 <= b < 0x7F else "\\x%02X" % b
    return f'"{out}"'


def write_dict(target, title, entries):
    seen, lines = set(), [f"# {title}", "# Written by tests/fuzz/make_seeds.py; see docs/fuzzing.md."]
    for e in entries:
        line = dict_line(e)
        if line not in seen:
            seen.add(line)
            lines.append(line)
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("\n".join(lines) + "\n")


def source(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def admin_routes():
    """Every admin route path, from the sources, with its {parameters} filled in."""
    import re
    fill = {"{node}": NODE, "{clientid}": "c1", "{key}": "k1", "{username}": "fuzzuser"}
    paths = []
    for path in ["src/admin/broker_api.cpp", "src/admin/cluster_api.cpp", "src/admin/cluster_kick.cpp",
                 "src/admin/user_api.cpp", "plugins/rebalance/api/http_routes.cpp"]:
        for base, p in re.findall(r'(?:router\.add(?:_async)?|admin\.add_route)\(\s*"[A-Z]+",\s*(base \+ )?"([^"]*)"',
                                  source(path)):
            for prefix in (["/api/v4", "/api/v5"] if base else [""]):
                full = prefix + p
                for k, v in fill.items():
                    full = full.replace(k, v)
                paths.append(full)
    return paths


REBALANCE_KEYS = ["conn_evict_rate", "sess_evict_rate", "wait_takeover", "wait_health_check", "abs_conn_threshold",
                  "rel_conn_threshold", "abs_sess_threshold", "rel_sess_threshold", "nodes", "redirect_to",
                  "migrate_to", "server_reference", "redirect_policy", "conn_evict_rpc_timeout",
                  "sess_evict_rpc_timeout"]


def write_dicts():
    write_dict("admin_http_fuzz", "Admin API: methods, headers, route paths, JSON keys and values.",
               ["GET ", "POST ", "PUT ", "DELETE ", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "\r\n\r\n", "Host: x\r\n",
                f"Authorization: {AUTH}\r\n", AUTH, "Basic ", "Content-Length: ", "Content-Type: application/json\r\n",
                "Transfer-Encoding: chunked\r\n", "Connection: close\r\n", "Connection: keep-alive\r\n",
                "?_page=", "&_limit=", "%2F", NODE, PEER, "c1", "c2"] +
               admin_routes() +
               [f'"{k}":' for k in REBALANCE_KEYS + ["topic", "payload", "qos", "retain", "clientid", "encoding", "key",
                                                       "description", "username", "password", "node"]] +
               ['"least_loaded"', '"base64"', '"plain"', '"1s"', '"500ms"', '"1m30s"', "null", "true", "false", "1.5",
                "4294967296", "-1", "1e300", "-1e300", "300", "{}", "[]", f'["{NODE}"]', f'"{PEER}"'])
    write_dict("mqtt_codec_fuzz", "MQTT: protocol names and topic syntax (libFuzzer finds the binary fields itself).",
               [mstr("MQTT"), mstr("MQIsdp"), "$share/", "$SYS/", "/#", "+/", "\xff\xff\xff\x7f"])
    write_dict("ws_upgrade_fuzz", "WebSocket upgrade headers and values.",
               ["GET /mqtt HTTP/1.1\r\n", "\r\n\r\n", "Host: x\r\n", "Upgrade: websocket\r\n",
                "Connection: Upgrade\r\n", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                "Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Protocol: ", "mqtt", "mqttv3.1", ", ", "/mqtt",
                "Transfer-Encoding: chunked\r\n", "Content-Length: ", "HTTP/1.0"])
    import re
    handoff = re.findall(r'"(handoff\.[a-z_]+\.v1)"', source("src/cluster/session_handoff.cpp"))
    methods = re.findall(r'register_method\(\s*"([a-z_.0-9]+)"', source("src/admin/cluster_api.cpp") +
                         source("plugins/rebalance/coordinator/rebalance_coordinator.cpp"))
    methods += re.findall(r'add\("(rebalance\.[a-z_.0-9]+)"', source("plugins/rebalance/rpc/node_methods.cpp"))
    methods += ["client.kick.v1", "rebalance.agent.changed.v1", "members.v1", "routes.sync.v1", "routes.delta.v1",
                "reg.lookup.v1", "cluster.leave.v1"]
    keys = ["m", "i", "a", "r", "ok", "err", "c", "n", "e", "t", "holder", "items", "epochs", "entries", "clean", "s",
            "snapshot", "none", "superseded", "redirect", "results", "marks", "old", "ended", "of", "unreached",
            "not_home", "body", "api", "v4", "v5", "node", "nonce", "proof", "host", "port", "error", "coordinator",
            "view", "count", "rate", "targets", "enabled", "incarnation", "generation", "client_id", "protocol_level",
            "queue", "inflight", "subscriptions", "will", "payload", "topic", "qos", "retain", "props", "publisher",
            "uid"] + REBALANCE_KEYS
    write_dict("cluster_frame_fuzz", "Cluster: frame headers, control methods and argument names (MessagePack strings).",
               [frame("heartbeat"), u32(1) + b"\x04", u32(1) + b"\x05", u32(1) + b"\x07", msgpack(PEER),
                msgpack(NODE), msgpack("c1"), msgpack("c2"), msgpack(2**40), msgpack(2**64 - 1), msgpack(-1),
                msgpack(-(2**63)), msgpack(300), msgpack(1.5), msgpack(1e300), msgpack(-1e300)] +
               [msgpack(x) for x in handoff + methods + keys])
    keys = re.findall(r'\{"([a-z_.*0-9]+)", Type::', source("src/app/config.cpp"))
    write_dict("config_fuzz", "Configuration: every key of config.cpp's table and the values they take.",
               [k.replace("*", "default") + " = " for k in keys] +
               ["[cluster]", "[[authorization.rules]]", "permission = ", "action = ", "topics = ", "ipaddr = ",
                '"verify_peer"', '"verify_none"', '"static"', '"manual"', '"allow"', '"deny"', '"ignore"',
                '"disconnect"', '"debug"', '"500ms"', '"2s"', '"127.0.0.1:1883"', '"[::1]:8883"', "true", "false",
                '"a@127.0.0.1"', "\0", "TIDEMQ_", "__", "="])
    write_dict("evacuation_file_fuzz", "The evacuation file's keys.",
               [f'"{k}":' for k in REBALANCE_KEYS] + ['"least_loaded"', "null", "4294967295", "2147483648", "-1",
                                                      "1.0", '["n2@127.0.0.1"]'])


def main():
    write_dicts()
    mqtt_seeds()
    ws_seeds()
    admin_seeds()
    cluster_seeds()
    config_seeds()
    evacuation_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
