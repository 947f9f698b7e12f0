"""A stand-in for a tidemq cluster peer, speaking the cluster link protocol on a raw socket,
for tests that send what a real node never would.

Frames: u32 big-endian length of (type byte + payload), u8 type, MessagePack payload
(challenge 1, auth 2, welcome 3, control 4). The handshake: the accepting node sends a
challenge {node, nonce}; the connecting side answers auth {node, proof, nonce, host, port}
with proof = HMAC-SHA256(cookie, "connect\\0" + nonce + "\\0" + own name); the node answers
welcome {node, proof} (or {error})."""

import hashlib
import hmac
import os
import socket
import struct

import msgpack

CHALLENGE, AUTH, WELCOME, CONTROL = 1, 2, 3, 4


def frame(kind, payload):
    return struct.pack(">IB", 1 + len(payload), kind) + payload


class ClusterPeer:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, kind, doc):
        self.sock.sendall(frame(kind, msgpack.packb(doc, use_bin_type=True)))

    def read_frame(self):
        """-> (type, decoded payload), or None at EOF."""
        while True:
            if len(self.buf) >= 4:
                (length,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + length:
                    kind, payload = self.buf[4], self.buf[5:4 + length]
                    self.buf = self.buf[4 + length:]
                    return kind, msgpack.unpackb(payload, raw=False)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def handshake(self, name, cookie):
        """Joins as node `name`; returns the welcome document."""
        kind, challenge = self.read_frame()
        assert kind == CHALLENGE, (kind, challenge)
        nonce = bytes.fromhex(challenge["nonce"])
        proof = hmac.new(cookie.encode(), b"connect\0" + nonce + b"\0" + name.encode(), hashlib.sha256).digest()
        self.send(AUTH, {"node": name, "proof": proof.hex(), "nonce": os.urandom(len(nonce)).hex(),
                         "host": "127.0.0.1", "port": 1})
        kind, welcome = self.read_frame()
        assert kind == WELCOME and "error" not in welcome, welcome
        return welcome

    def call(self, method, args, call_id):
        """Sends a control request; returns the reply with that id (other frames are skipped)."""
        self.send(CONTROL, {"m": method, "i": call_id, "a": args})
        while True:
            got = self.read_frame()
            assert got is not None, "the node closed the link instead of answering %s" % method
            kind, doc = got
            if kind == CONTROL and doc.get("r") == call_id:
                return doc
