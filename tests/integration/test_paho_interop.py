"""The Eclipse Paho interoperability client suites (MQTT 3.1.1 and MQTT 5) against
one node, through the conformance script paho-interop.sh that sits beside the
repository; skipped when it is not there.

The node is set up the way the suites expect:
- an ACL rule refusing SUBSCRIBE to `test/nosubscribe` (test_subscribe_failure);
- `mqtt.max_keepalive = 60` (test_server_keep_alive asks for 120 and expects the
  Server Keep Alive 60);
- one I/O thread: test_subscribe_options publishes on one connection right after
  subscribing on another without waiting for the SUBACK. MQTT orders nothing across
  connections; with one I/O thread the broker handles the two in arrival order.

Every test must pass except the MQTT 5 test_subscribe_failure: its client accepts
only 0x80 in a SUBACK, and tidemq answers a refused MQTT 5 subscription with 0x87
(Not authorized). The suites sleep a lot; side by side they take about two minutes.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from test_auth import config_text, start_with_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO.parent / "shared" / "conformance" / "paho-interop.sh"
ALLOWED_FAILURES = {("paho5", "test_subscribe_failure")}

pytestmark = pytest.mark.tidemq_only(reason="runs against tidemq with its own ACL rules and settings")


def start_node(broker_factory):
    text = config_text(rules=[{"permission": "deny", "action": "subscribe", "topics": ["test/nosubscribe"]}])
    return start_with_config(broker_factory, text, settings={"mqtt.max_keepalive": 60, "node.io_threads": 1})


@pytest.mark.skipif(not SCRIPT.exists(), reason="the Paho interoperability script is not beside the repository")
def test_paho_interoperability_suites(broker_factory, tmp_path):
    # The two suites run side by side, each against a node of its own (they use the same
    # client ids and topics): about as long as the MQTT 5 suite alone.
    nodes = {suite: start_node(broker_factory) for suite in ("311", "5")}
    runs = {}
    output = ""
    try:
        for suite, node in nodes.items():
            env = dict(os.environ, PYTHON="/usr/bin/python3", PAHO_SUITES=suite, PAHO_TEST_TIMEOUT="30",
                       PAHO_FILE_TIMEOUT="240")  # the script's own bounds, well inside ours
            runs[suite] = subprocess.Popen(["bash", str(SCRIPT), node.host, str(node.port), str(tmp_path / suite)],
                                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for proc in runs.values():
            output += proc.communicate(timeout=300)[0]
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = re.findall(r"^(paho311|paho5) (\S+) (PASS|FAIL|ERROR|SKIP|NOTRUN)$", output, re.M)
    summaries = re.findall(r"^paho311: (\d+) passed, (\d+) failed; paho5: (\d+) passed, (\d+) failed$", output, re.M)
    assert len(summaries) == 2, "a summary line is missing:\n" + output
    counts = [sum(int(x[i]) for x in summaries) for i in range(4)]
    summary = "paho311: %d passed, %d failed; paho5: %d passed, %d failed" % tuple(counts)
    suites = {suite for suite, _, _ in results}
    assert suites == {"paho311", "paho5"}, "a suite did not run:\n" + output
    failed = {(suite, name) for suite, name, status in results if status not in ("PASS", "SKIP")}
    assert failed <= ALLOWED_FAILURES, "%s\n%s" % (summary, output)
    assert ("paho311", "test_subscribe_failure", "PASS") in results, output
    print(summary)
