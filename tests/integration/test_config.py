"""tidemq configuration: --set, environment overrides, errors with exit code 2."""

import re

import pytest

from conftest import free_port
from mqttraw import DISCONNECT, publish_of_size
from mqtthelpers import expect_refused

pytestmark = pytest.mark.tidemq_only(reason="tidemq's own configuration and command line")


def run_expecting_failure(broker_factory, config_file=None, **kw):
    """Run a broker that must exit (bad settings, environment or config_file); returns (rc, output)."""
    b = broker_factory(start=False, **kw)
    if config_file is not None:
        b.config_file = config_file
    rc, out, err = b.run_to_exit(timeout=10)
    return rc, out + err


@pytest.mark.parametrize("key,value", [
    ("mqtt.nope", "1"),
    ("nosuchsection.key", "x"),
    ("mqtt.max_inflight", "abc"),
    ("mqtt.max_packet_size", "-5"),
    ("mqtt.retain_available", "maybe"),
    ("node.io_threads", "many"),
    ("listeners.tcp.default.bind", "not-an-address"),
])
def test_bad_set_exits_2_naming_the_key(broker_factory, key, value):
    rc, text = run_expecting_failure(broker_factory, settings={key: value})
    assert rc == 2, "exit code %r for --set %s=%s; output:\n%s" % (rc, key, value, text)
    assert key in text, "the message must name %s:\n%s" % (key, text)


def test_env_override_is_applied(broker_factory, make_raw):
    b = broker_factory(env={"TIDEMQ_MQTT__MAX_PACKET_SIZE": "100"})
    c = make_raw(b, 5, client_id="env")
    assert c.connack.props.get("MaximumPacketSize") == 100, c.connack
    c.send(publish_of_size(200, "env/t", qos=1))
    pkts = expect_refused(c, disconnect_rcs=(0x95,))
    assert [(p.type, p.rc) for p in pkts] == [(DISCONNECT, 0x95)]


def test_env_override_bad_value_exits_2(broker_factory):
    rc, text = run_expecting_failure(broker_factory, env={"TIDEMQ_MQTT__MAX_INFLIGHT": "abc"})
    assert rc == 2, text
    assert "max_inflight" in text.lower(), text


def test_unknown_key_in_config_file_names_key_file_and_line(broker_factory, tmp_workdir):
    conf = tmp_workdir / "bad.conf"
    conf.write_text('[mqtt]\nmax_inflight = 10\nbogus_key = 5\n')
    rc, text = run_expecting_failure(broker_factory, config_file=conf)
    assert rc == 2, text
    assert "bogus_key" in text, text
    assert "bad.conf" in text, "the message must name the file:\n" + text
    assert re.search(r"\b3\b", text), "the message must name line 3:\n" + text


def test_bad_value_in_config_file_names_key_file_and_line(broker_factory, tmp_workdir):
    conf = tmp_workdir / "badval.conf"
    conf.write_text('# comment\n[mqtt]\nmax_keepalive = "soon"\n')
    rc, text = run_expecting_failure(broker_factory, config_file=conf)
    assert rc == 2, text
    assert "max_keepalive" in text and "badval.conf" in text, text
    assert re.search(r"\b3\b", text), "the message must name line 3:\n" + text


def test_missing_config_file_fails(broker_factory, tmp_workdir):
    rc, text = run_expecting_failure(broker_factory, config_file=tmp_workdir / "does-not-exist.conf")
    assert rc != 0, text


def test_shipped_config_starts(broker, make_raw):
    """conf/tidemq.conf (with only port/data dir overridden) is valid."""
    assert make_raw(broker, 5, client_id="ok").connack.rc == 0


def test_second_named_listener(broker_factory, make_raw):
    port2 = free_port()
    b = broker_factory(settings={"listeners.tcp.second.bind": "127.0.0.1:%d" % port2})
    assert make_raw(b, 5, client_id="first").connack.rc == 0

    class Other:
        host = b.host
        port = port2
    assert make_raw(Other, 4, client_id="second").connack.rc == 0


def test_log_file(broker_factory, tmp_workdir, make_raw):
    log = tmp_workdir / "tidemq.log"
    b = broker_factory(settings={"log.file": str(log)})
    make_raw(b, 5, client_id="logged")
    assert b.stop() == 0
    assert log.exists() and log.stat().st_size > 0
