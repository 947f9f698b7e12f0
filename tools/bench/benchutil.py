"""What the benchmark scripts of tools/bench share: free ports, bounded waits, and admin API
calls with the default credentials (the nodes they start keep admin:public)."""

import base64
import http.client
import json
import socket
import time

ADMIN_AUTH = "Basic " + base64.b64encode(b"admin:public").decode()


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(cond, timeout, what, step=0.02):
    """Polls cond() until it is true; a node not answering yet counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
            pass
        time.sleep(step)
    raise RuntimeError("timed out: " + what)


def api(host, port, method, path, body=None, timeout=10):
    """-> (HTTP status, decoded JSON, None for an empty body, or the raw bytes of a non-JSON one)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": ADMIN_AUTH, "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data
