"""MQTT authentication: authentication.allow_anonymous and authentication.password_file.

Users are written into a password file by the test itself: PBKDF2-SHA256 is computed
here with hashlib in tidemq's text format (`user:pbkdf2-sha256$<iterations>$<salt
hex>$<hash hex>`), with 1000 iterations (the count is part of each hash).  The broker
gets a config file written into its work directory (Broker.config_file); the usual
--set overrides (port, data dir, ...) still apply on top of it.

Every wait has a deadline; reloads are waited for by polling CONNECT.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess

import pytest

import mqttraw
from mqtthelpers import Client, wait_for

pytestmark = pytest.mark.tidemq_only(reason="tidemq's authentication settings and password file")

V311, V5 = 4, 5
BAD_CREDENTIALS_V5 = 0x86
BAD_CREDENTIALS_V311 = 4
RELOAD_DEADLINE = 8.0  # the file is polled every second


# --- helpers (also used by test_acl.py) ---------------------------------------

def password_line(user, password, iterations=1000, salt=None):
    salt = salt if salt is not None else os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "%s:pbkdf2-sha256$%d$%s$%s\n" % (user, iterations, salt.hex(), dk.hex())


def write_users(path, users, header="# tidemq users (written by the test)\n"):
    """users: dict name -> password (or a ready line when the value is a (line,) tuple)."""
    text = header + "".join(v[0] if isinstance(v, tuple) else password_line(u, v) for u, v in users.items())
    path.write_text(text)
    return path


def config_text(allow_anonymous=None, password_file=None, no_match=None, deny_action=None, rules=()):
    """A tidemq config file with the authentication/authorization keys that are given."""
    lines = ["# written by tests/integration (auth/acl)"]
    if allow_anonymous is not None:
        lines.append("authentication.allow_anonymous = %s" % ("true" if allow_anonymous else "false"))
    if password_file is not None:
        lines.append("authentication.password_file = %s" % json.dumps(str(password_file)))
    if no_match is not None:
        lines.append("authorization.no_match = %s" % json.dumps(no_match))
    if deny_action is not None:
        lines.append("authorization.deny_action = %s" % json.dumps(deny_action))
    for r in rules:
        lines.append("")
        lines.append("[[authorization.rules]]")
        for k, v in r.items():
            lines.append("%s = %s" % (k, json.dumps(v)))
    return "\n".join(lines) + "\n"


def start_with_config(broker_factory, text, settings=None):
    """Start a broker whose --config is a file holding `text`."""
    b = broker_factory(settings=settings, start=False)
    conf = b.workdir / "tidemq.conf"
    conf.write_text(text)
    b.config_file = conf
    b.start()
    return b


def raw_connect(broker, version, client_id, username=None, password=None):
    """(RawClient, CONNACK) — the client is closed by the caller (or make_raw)."""
    c = mqttraw.RawClient(broker.host, broker.port, version=version)
    try:
        ack = c.connect(client_id, username=username, password=password)
    except Exception:
        c.close()
        raise
    return c, ack


def connack_rc(broker, version, client_id, username=None, password=None):
    """The CONNACK return / reason code; a refused client must also be closed."""
    c, ack = raw_connect(broker, version, client_id, username, password)
    try:
        if ack.rc != 0:
            c.wait_closed(5.0)
        return ack.rc
    finally:
        c.close()


def refused_code(version):
    return BAD_CREDENTIALS_V5 if version == V5 else BAD_CREDENTIALS_V311


def log_text(broker):
    return broker.stdout() + broker.stderr()


def wait_log(broker, needle, timeout=5.0):
    return wait_for(lambda: needle in log_text(broker), timeout,
                    message="%r not in the broker log:\n%s" % (needle, broker.logs()))


def echo_roundtrip(broker, version, client_id, username, password, topic):
    """Connect with credentials, subscribe, publish QoS 1 to ourselves, get it back."""
    c, ack = raw_connect(broker, version, client_id, username, password)
    try:
        assert ack.rc == 0, ack
        sub = c.subscribe(topic, qos=1)
        assert sub.rcs == [1], sub
        ack = c.publish_acked(topic, b"hello", qos=1)
        assert ack.rc == 0, ack
        p, _ = c.recv_until(lambda p: p.type == mqttraw.PUBLISH, 5.0)
        assert p.payload == b"hello"
    finally:
        c.close()


versions = pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])


@pytest.fixture
def passwd(tmp_workdir):
    return tmp_workdir / "passwd"


# --- success and failure ------------------------------------------------------

@versions
def test_password_success(broker_factory, passwd, uid, version):
    write_users(passwd, {"alice": "wonderland", "bob": "builder"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    echo_roundtrip(b, version, uid, "alice", "wonderland", "auth/%s" % uid)
    echo_roundtrip(b, version, uid + "b", "bob", "builder", "auth/%s/b" % uid)


@versions
def test_password_success_paho(broker_factory, make_client, passwd, uid, version):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    c = make_client(b, client_id=uid, version=version, username="alice", password="wonderland")
    assert c.subscribe("p/%s" % uid, qos=1) == [1]
    c.publish("p/%s" % uid, b"x", qos=1)
    assert c.messages.get().payload == b"x"


@versions
@pytest.mark.parametrize("case", ["wrong_password", "unknown_user", "no_password", "empty_password",
                                  "user_name_case"])
def test_bad_credentials_refused(broker_factory, passwd, uid, version, case):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=True, password_file=passwd))
    user, password = {
        "wrong_password": ("alice", "Wonderland"),
        "unknown_user": ("mallory", "wonderland"),
        "no_password": ("alice", None),
        "empty_password": ("alice", ""),
        "user_name_case": ("Alice", "wonderland"),
    }[case]
    # anonymous clients are allowed here: bad credentials are still refused, never downgraded
    assert connack_rc(b, version, uid, user, password) == refused_code(version)
    assert connack_rc(b, version, uid, "alice", "wonderland") == 0
    assert b.alive()


@versions
def test_bad_credentials_paho(broker_factory, make_client, passwd, uid, version):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    c = make_client(b, client_id=uid, version=version, username="alice", password="nope",
                    expect_rc=refused_code(version))
    c.wait_disconnected()


def test_wrong_password_mosquitto_clients(broker_factory, passwd, uid):
    if shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto-clients missing")
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    base = ["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-t", "m/" + uid, "-m", "x", "-q", "1"]
    ok = subprocess.run(base + ["-u", "alice", "-P", "wonderland", "-V", "mqttv5"], capture_output=True, timeout=10)
    assert ok.returncode == 0, ok
    ok = subprocess.run(base + ["-u", "alice", "-P", "wonderland", "-V", "mqttv311"], capture_output=True, timeout=10)
    assert ok.returncode == 0, ok
    bad5 = subprocess.run(base + ["-u", "alice", "-P", "nope", "-V", "mqttv5"], capture_output=True, timeout=10)
    assert bad5.returncode != 0
    assert b"Bad User Name or Password" in bad5.stderr + bad5.stdout, bad5
    bad3 = subprocess.run(base + ["-u", "alice", "-P", "nope", "-V", "mqttv311"], capture_output=True, timeout=10)
    assert bad3.returncode != 0
    assert b"bad user name or password" in (bad3.stderr + bad3.stdout).lower(), bad3
    anon = subprocess.run(base + ["-V", "mqttv311"], capture_output=True, timeout=10)
    assert anon.returncode != 0


def test_mosquitto_sub_with_credentials(broker_factory, passwd, uid):
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto-clients missing")
    write_users(passwd, {"reader": "r-pass", "writer": "w-pass"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    topic = "msub/" + uid
    sub = subprocess.Popen(["mosquitto_sub", "-h", b.host, "-p", str(b.port), "-t", topic, "-q", "1", "-C", "1",
                            "-W", "8", "-u", "reader", "-P", "r-pass", "-i", uid + "-sub"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # publish until the subscriber has its subscription (retained would also do; this
        # keeps the test about authentication only)
        def delivered():
            subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-t", topic, "-m", "hi", "-q", "1",
                            "-u", "writer", "-P", "w-pass"], capture_output=True, timeout=10, check=True)
            return sub.poll() is not None or None
        wait_for(delivered, 8.0, interval=0.2)
        out, err = sub.communicate(timeout=5)
        assert sub.returncode == 0, (out, err)
        assert out.strip() == b"hi"
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)


def test_default_iteration_count_hash(broker_factory, passwd, uid):
    """A hash with the default 100 000 iterations (what tidemq_ctl writes) works, and a
    reconnect with the same password is answered from the verification cache."""
    write_users(passwd, {"strong": (password_line("strong", "s-pass", iterations=100000),)})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    for i in range(3):
        assert connack_rc(b, V5, "%s-%d" % (uid, i), "strong", "s-pass") == 0
    assert connack_rc(b, V5, uid, "strong", "s-pas") == BAD_CREDENTIALS_V5


# --- anonymous clients --------------------------------------------------------

@versions
def test_anonymous_allowed_by_default(broker_factory, uid, version):
    b = start_with_config(broker_factory, config_text())
    assert connack_rc(b, version, uid) == 0
    # no password file: a user name cannot be checked and is accepted like an anonymous client
    assert connack_rc(b, version, uid, "whoever", "whatever") == 0
    wait_log(b, "anonymous clients are allowed")


@versions
def test_anonymous_refused(broker_factory, passwd, uid, version):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    assert connack_rc(b, version, uid) == refused_code(version)
    assert connack_rc(b, version, uid, "alice", "wonderland") == 0
    assert "anonymous clients are allowed" not in log_text(b)


@versions
def test_anonymous_refused_paho(broker_factory, make_client, passwd, uid, version):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    make_client(b, client_id=uid, version=version, expect_rc=refused_code(version)).wait_disconnected()


@versions
def test_no_password_file_and_no_anonymous_refuses_everyone(broker_factory, uid, version):
    b = start_with_config(broker_factory, config_text(allow_anonymous=False))
    wait_log(b, "EVERY client will be refused")
    assert connack_rc(b, version, uid) == refused_code(version)
    assert connack_rc(b, version, uid, "alice", "wonderland") == refused_code(version)


def test_settings_by_set(broker_factory, passwd, uid):
    """The keys work from --set as well as from the file."""
    write_users(passwd, {"alice": "wonderland"})
    b = broker_factory(settings={"authentication.allow_anonymous": "false",
                                 "authentication.password_file": '"%s"' % passwd})
    assert connack_rc(b, V5, uid) == BAD_CREDENTIALS_V5
    assert connack_rc(b, V5, uid, "alice", "wonderland") == 0


def test_relative_password_file_is_under_data_dir(broker_factory, uid):
    b = broker_factory(settings={"authentication.allow_anonymous": "false",
                                 "authentication.password_file": '"users/passwd"'}, start=False)
    (b.workdir / "data" / "users").mkdir(parents=True)
    write_users(b.workdir / "data" / "users" / "passwd", {"alice": "wonderland"})
    b.start()
    assert connack_rc(b, V5, uid, "alice", "wonderland") == 0


# --- logging ------------------------------------------------------------------

def test_failures_logged_with_client_user_and_peer(broker_factory, passwd, uid):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    assert connack_rc(b, V5, uid + "-w", "alice", "wrong") == BAD_CREDENTIALS_V5
    assert connack_rc(b, V5, uid + "-u", "mallory", "x") == BAD_CREDENTIALS_V5
    assert connack_rc(b, V5, uid + "-a") == BAD_CREDENTIALS_V5
    wait_log(b, "authentication failed: client '%s-w', user 'alice', peer 127.0.0.1:" % uid)
    wait_log(b, "client '%s-u', user 'mallory'" % uid)
    wait_log(b, "client '%s-a', user (none)" % uid)
    text = log_text(b)
    assert "wrong password" in text and "unknown user" in text
    assert "wonderland" not in text  # no password ever reaches the log


def test_failure_flood_is_rate_limited_in_the_log(broker_factory, passwd, uid):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    for i in range(60):
        assert connack_rc(b, V311, "%s-%d" % (uid, i)) == BAD_CREDENTIALS_V311
    # at most 20 lines per 10 s window (the run above takes well under 10 s on loopback)
    lines = [l for l in log_text(b).splitlines() if "authentication failed" in l]
    assert 20 <= len(lines) <= 40, len(lines)
    assert b.alive()


def test_malformed_line_logged_and_skipped(broker_factory, passwd, uid):
    passwd.write_text("# header\n" + password_line("alice", "wonderland") + "broken-line-without-colon\n"
                      "bob:plaintext-password\n" + password_line("carol", "c-pass"))
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    wait_log(b, "password file %s line 3:" % passwd)
    wait_log(b, "password file %s line 4: user 'bob'" % passwd)
    assert "plaintext-password" not in log_text(b)
    wait_log(b, "2 user(s)")
    assert connack_rc(b, V5, uid, "alice", "wonderland") == 0
    assert connack_rc(b, V5, uid, "carol", "c-pass") == 0
    assert connack_rc(b, V5, uid, "bob", "plaintext-password") == BAD_CREDENTIALS_V5


def test_unreadable_password_file_stops_startup(broker_factory, passwd):
    passwd.mkdir()  # a directory where the file should be
    b = broker_factory(start=False)
    conf = b.workdir / "tidemq.conf"
    conf.write_text(config_text(allow_anonymous=False, password_file=passwd))
    b.config_file = conf
    code, out, err = b.run_to_exit(timeout=10)
    assert code == 1, (code, out, err)
    assert "password_file" in out + err


# --- hot reload -----------------------------------------------------------------

def wait_accepted(broker, client_id, user, password, version=V5, timeout=RELOAD_DEADLINE):
    return wait_for(lambda: connack_rc(broker, version, client_id, user, password) == 0, timeout, interval=0.1,
                    message="%s not accepted within %.0fs:\n%s" % (user, timeout, broker.logs()))


def wait_refused(broker, client_id, user, password, version=V5, timeout=RELOAD_DEADLINE):
    return wait_for(lambda: connack_rc(broker, version, client_id, user, password) == refused_code(version), timeout,
                    interval=0.1, message="%s still accepted after %.0fs:\n%s" % (user, timeout, broker.logs()))


def test_hot_reload_on_file_change(broker_factory, passwd, uid):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    assert connack_rc(b, V5, uid, "bob", "builder") == BAD_CREDENTIALS_V5

    # a new user, appended in place (same inode)
    with open(passwd, "a") as f:
        f.write(password_line("bob", "builder"))
    wait_accepted(b, uid, "bob", "builder")
    wait_log(b, "reloaded (changed on disk): 2 user(s)")

    # a changed password: the old one stops working (the verification cache is dropped)
    assert connack_rc(b, V311, uid, "alice", "wonderland") == 0
    write_users(passwd, {"alice": "looking-glass", "bob": "builder"})
    wait_refused(b, uid, "alice", "wonderland", version=V311)
    assert connack_rc(b, V311, uid, "alice", "looking-glass") == 0

    # a removed user, by replacing the file (another inode)
    tmp = passwd.with_suffix(".new")
    write_users(tmp, {"alice": "looking-glass"})
    os.replace(str(tmp), str(passwd))
    wait_refused(b, uid, "bob", "builder")
    assert connack_rc(b, V5, uid, "alice", "looking-glass") == 0


def test_hot_reload_connected_clients_stay(broker_factory, make_client, passwd, uid):
    """A reload decides future CONNECTs; it does not kick sessions already authenticated."""
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    c = make_client(b, client_id=uid, username="alice", password="wonderland")
    write_users(passwd, {"bob": "builder"})
    wait_accepted(b, uid + "-b", "bob", "builder")
    assert c.subscribe("still/" + uid, qos=1) == [1]


def test_password_file_created_after_start(broker_factory, passwd, uid):
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    wait_log(b, "does not exist")
    assert connack_rc(b, V5, uid, "alice", "wonderland") == BAD_CREDENTIALS_V5
    write_users(passwd, {"alice": "wonderland"})
    wait_accepted(b, uid, "alice", "wonderland")


def test_password_file_deleted_means_no_users(broker_factory, passwd, uid):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    assert connack_rc(b, V5, uid, "alice", "wonderland") == 0
    passwd.unlink()
    wait_refused(b, uid, "alice", "wonderland")


def test_reload_on_sighup(broker_factory, passwd, uid):
    write_users(passwd, {"alice": "wonderland"})
    b = start_with_config(broker_factory, config_text(allow_anonymous=False, password_file=passwd))
    # SIGHUP must not end the node (its default action would)
    b.send_signal(signal.SIGHUP)
    wait_log(b, "reloaded: unchanged, 1 user(s)")
    assert b.alive()

    with open(passwd, "a") as f:
        f.write(password_line("bob", "builder"))
    b.send_signal(signal.SIGHUP)
    wait_log(b, "SIGHUP: reloading the password file")
    wait_accepted(b, uid, "bob", "builder", timeout=5.0)
    # whichever came first (the 1 s poll or SIGHUP), the log shows the new count
    assert "2 user(s)" in log_text(b)
    assert b.alive()
    assert b.stop() == 0  # SIGTERM still stops it cleanly


def test_sighup_without_password_file_is_harmless(broker_factory, uid):
    b = start_with_config(broker_factory, config_text(allow_anonymous=True))
    # SIGHUP's default action would end the process: tidemq handles it even with nothing to reload
    b.send_signal(signal.SIGHUP)
    wait_log(b, "SIGHUP: no password file to reload")
    assert b.alive(), b.logs()
    assert connack_rc(b, V5, uid) == 0
