"""Helpers shared by the admin API, metrics and tidemq_ctl tests."""

import socket
import time


def wait_admin_listening(b, port, timeout=5.0):
    """True once the node accepts on its admin port; False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not b.alive():
            return False
        try:
            socket.create_connection((b.host, port), timeout=0.25).close()
            return True
        except OSError:
            time.sleep(0.02)
    raise AssertionError("admin API not listening on %d after %.0fs\n%s" % (port, timeout, b.logs()))
