"""Fixtures for test_tls.py and test_ws.py (loaded with pytest_plugins = ["certs.fixtures"])."""

import shutil
import tempfile

import pytest

from certs import Processes, make_certs


@pytest.fixture(scope="session")
def tls_certs():
    """A CA with server and client certificates, and an unrelated CA (see certs/__init__.py)."""
    d = tempfile.mkdtemp(prefix="tidemq-certs-")
    try:
        yield make_certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def processes():
    """Start subprocesses with processes.start(args); all are killed at teardown."""
    ps = Processes()
    yield ps
    ps.kill_all()
