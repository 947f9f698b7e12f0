"""`tidemq_ctl rebalance start|stop|node-status|status|plan` and `tidemq_ctl
eviction status` (docs/rebalance.md, "tidemq_ctl").

- against a fake admin API: every text of "CLI output" byte for byte (start, stop,
  node-status for an evacuation, a donor and a coordinator, global status with
  its 68-dash lines, eviction status), Erlang ~p formatting (quoted node atoms,
  shortest floats, lists wrapped at 80 columns), the request each command sends,
  the parse errors of "CLI start arguments" with their exact
  `unknown ... arguments: [...]` texts,
  usage errors (exit 2, nothing sent), `rebalance plan` and `start --wait`;
- against a real single node: evacuation start (with and without --wait), stop,
  node-status, status, eviction status, plan and nothing_to_balance;
- against a real 3-node cluster: plan, `start --wait` of a rebalance that
  completes (clients reconnecting elsewhere) with the exact status texts while it
  waits for the health check, and one that aborts when its donor is killed.

Exit codes ("CLI exit codes"): 0 done, 1 an error line (on stderr, like the other
tidemq_ctl failures), 2 usage."""

import os
import pty
import re
import select
import subprocess
import time
import urllib.parse

import pytest

from adminhelpers import FakeAdminApi, wait_admin_listening
import mqttraw
from clusterhelpers import (  # noqa: F401  (fixtures)
    CTL_BIN, CTL_TIMEOUT, Fleet, cluster, ctl, ctl_bin, poll, pytestmark_cluster)
from conftest import free_port

pytestmark = pytestmark_cluster

N1, N2, N3 = "tidemq1@127.0.0.1", "tidemq2@127.0.0.2", "tidemq3@127.0.0.3"
API = "/api/v4/load_rebalance"
DASHES = "-" * 68


# --- a fake admin API ----------------------------------------------------------------------

class FakeNode(FakeAdminApi):
    """The fake admin API (adminhelpers.FakeAdminApi) of node N1 in a cluster where N1
    and N2 run and N3 is down, with shorthands for the rebalance API's answers."""

    def __init__(self):
        super().__init__()
        self.node(N1)
        self.members([N1, N2], [N3])
        self.busy()

    def busy(self, evacuating=(), donors=(), unreachable=(), then=None):
        """global_status naming the nodes whose eviction agent is on (not available); with
        `then`, a second global_status answer (a list of the same arguments) for later calls."""
        def doc(evacuating=(), donors=(), unreachable=()):
            d = {"evacuations": [{"node": n, "state": "evicting_conns"} for n in evacuating],
                 "rebalances": [{"node": N1, "coordinator_node": N1, "donors": list(donors), "recipients": []}]
                 if donors else []}
            if unreachable:
                d["unreachable"] = list(unreachable)
            return (200, d)
        answers = [doc(evacuating, donors, unreachable)]
        if then is not None:
            answers.append(doc(*then))
        self.answers[("GET", API + "/global_status")] = answers

    def node(self, name):
        self.answers[("GET", "/api/v4/stats")] = (200, {"code": 0, "data": [{"node": name, "connections.count": 0}]})

    def ok(self, method, path):
        self.answers[(method, path)] = (200, {"code": 0, "data": []})

    def refuse(self, method, path, message):
        self.answers[(method, path)] = (200, {"code": 400, "message": message})

    def status(self, doc, path=API + "/status"):
        self.answers[("GET", path)] = (200, doc) if not isinstance(doc, list) else [(200, d) for d in doc]


@pytest.fixture
def fake():
    f = FakeNode()
    yield f
    f.close()


def run(ctl, fake, *args, timeout=CTL_TIMEOUT):
    """The node comes from TIDEMQ_CTL_*: the arguments are exactly `args`."""
    return ctl(*args, env=fake.env, timeout=timeout)


def ok(r, out):
    assert (r.rc, r.out, r.err) == (0, out, ""), r


def fails(r, line, out=""):
    """Exit 1, `line` + newline on stderr."""
    assert (r.rc, r.out, r.err) == (1, out, line + "\n"), r


def enc(node):
    return urllib.parse.quote(node, safe="")


# --- start ---------------------------------------------------------------------------------

def test_evacuation_start(ctl, fake):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    ok(run(ctl, fake, "rebalance", "start", "--evacuation"), "Rebalance(evacuation) started\n")
    assert fake.posts() == [(API + "/%s/evacuation/start" % enc(N1), {})]


def test_evacuation_start_sends_every_option(ctl, fake):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    r = run(ctl, fake, "rebalance", "start", "--evacuation", "--wait-health-check", "0", "--redirect-to",
            "127.0.0.2:1883 127.0.0.3:1883", "--conn-evict-rate", "+10", "--migrate-to", "%s, %s" % (N2, N2),
            "--wait-takeover", "30", "--sess-evict-rate", "20")
    ok(r, "Rebalance(evacuation) started\n")
    assert fake.posts() == [(API + "/%s/evacuation/start" % enc(N1), {
        "wait_health_check": 0, "redirect_to": "127.0.0.2:1883 127.0.0.3:1883", "conn_evict_rate": 10,
        "migrate_to": [N2], "wait_takeover": 30, "sess_evict_rate": 20})]


@pytest.mark.parametrize("policy", ["least_loaded", "static"])
def test_evacuation_start_sends_the_redirect_policy(ctl, fake, policy):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    ok(run(ctl, fake, "rebalance", "start", "--evacuation", "--redirect-policy", policy), "Rebalance(evacuation) started\n")
    assert fake.posts() == [(API + "/%s/evacuation/start" % enc(N1), {"redirect_policy": policy})]


@pytest.mark.parametrize("token,line", [
    ("already_started", "Rebalance is already enabled"),
    ("eviction_agent_busy", "Rebalance start error: eviction_agent_busy"),
    ("invalid string in server_reference", "Rebalance start error: invalid string in server_reference"),
])
def test_evacuation_start_refused(ctl, fake, token, line):
    fake.refuse("POST", API + "/%s/evacuation/start" % N1, token)
    fails(run(ctl, fake, "rebalance", "start", "--evacuation"), line)


def test_rebalance_start(ctl, fake):
    fake.ok("POST", API + "/%s/start" % N1)
    ok(run(ctl, fake, "rebalance", "start"), "Rebalance started\n")
    assert fake.posts() == [(API + "/%s/start" % enc(N1), {})]


def test_rebalance_start_sends_every_option(ctl, fake):
    fake.ok("POST", API + "/%s/start" % N1)
    r = run(ctl, fake, "rebalance", "start", "--nodes", "%s %s,%s" % (N1, N2, N1), "--wait-health-check", "10",
            "--conn-evict-rate", "5", "--conn-evict-rpc-timeout", "20", "--abs-conn-threshold", "100",
            "--rel-conn-threshold", "2", "--wait-takeover", "15", "--sess-evict-rate", "6",
            "--sess-evict-rpc-timeout", "30", "--abs-sess-threshold", "200", "--rel-sess-threshold", "1.5")
    ok(r, "Rebalance started\n")
    (path, body), = fake.posts()
    assert path == API + "/%s/start" % enc(N1)
    assert body == {"nodes": [N1, N2], "wait_health_check": 10, "conn_evict_rate": 5,
                    "conn_evict_rpc_timeout": 20000, "abs_conn_threshold": 100, "rel_conn_threshold": 2.0,
                    "wait_takeover": 15, "sess_evict_rate": 6, "sess_evict_rpc_timeout": 30000,
                    "abs_sess_threshold": 200, "rel_sess_threshold": 1.5}, body
    assert isinstance(body["rel_conn_threshold"], float)  # "2" is 2.0


@pytest.mark.parametrize("token", ["already_started", "nothing_to_balance", "eviction_agent_busy"])
def test_rebalance_start_refused(ctl, fake, token):
    fake.refuse("POST", API + "/%s/start" % N1, token)
    fails(run(ctl, fake, "rebalance", "start", "--nodes", N2), "Rebalance start error: " + token)


def test_a_node_that_became_busy_during_the_start_gets_the_cli_text(ctl, fake):
    """N2 starts evacuating between the CLI's check and the node's: the node refuses with its
    API text, the CLI checks again and prints its own text ("CLI start arguments")."""
    fake.busy(then=[[N2]])
    fake.refuse("POST", API + "/%s/start" % N1, "unavailable nodes in nodes: ['%s']" % N2)
    fails(run(ctl, fake, "rebalance", "start", "--nodes", "%s,%s" % (N1, N2)),
          "Rebalance start error: invalid --nodes, unavailable nodes: ['%s']" % N2)
    fake.busy(then=[[N2]])
    fake.refuse("POST", API + "/%s/evacuation/start" % N1, "no available nodes list in migrate_to: ['%s']" % N2)
    fails(run(ctl, fake, "rebalance", "start", "--evacuation", "--migrate-to", N2),
          "Rebalance start error: invalid --migrate-to, no nodes")


def test_a_refusal_the_cli_cannot_confirm_prints_the_node_text(ctl, fake):
    fake.refuse("POST", API + "/%s/start" % N1, "unavailable nodes in nodes: ['%s']" % N2)
    fails(run(ctl, fake, "rebalance", "start", "--nodes", N2),
          "Rebalance start error: unavailable nodes in nodes: ['%s']" % N2)


def test_repeated_option_last_wins(ctl, fake):
    fake.ok("POST", API + "/%s/start" % N1)
    ok(run(ctl, fake, "rebalance", "start", "--conn-evict-rate", "0", "--conn-evict-rate", "7"), "Rebalance started\n")
    assert fake.posts()[0][1] == {"conn_evict_rate": 7}


def test_connection_options_among_the_start_arguments(ctl, fake):
    """The global options may follow the command: they are not start arguments."""
    fake.ok("POST", API + "/%s/start" % N1)
    r = ctl("rebalance", "start", "--conn-evict-rate", "9", "--url", fake.url, "--user", "admin",
            "--password=public", "--timeout", "5")
    ok(r, "Rebalance started\n")
    assert fake.posts()[0][1] == {"conn_evict_rate": 9}
    # a start option without its value before them
    r = ctl("rebalance", "start", "--nodes", "--url", fake.url)
    fails(r, 'Rebalance start error: unknown arguments: ["--nodes"]')


# parse errors and validation messages (docs/rebalance.md, "CLI start arguments"); those
# independent of the cluster send nothing
PARSE_ERRORS = [
    (["--foo-bar"], 'unknown arguments: ["--foo-bar"]'),
    (["--nodes"], 'unknown arguments: ["--nodes"]'),
    (["--conn-evict-rate", "5", "--foo", "a", "b"], 'unknown arguments: ["--foo","a","b"]'),
    (["--conn-evict-rate", "5", "--evacuation", "x"], 'unknown arguments: ["x"]'),
    (["--purge"], 'unknown arguments: ["--purge"]'),
    (["--purge", "--purge-rate", "10"], 'unknown arguments: ["--purge","--purge-rate","10"]'),
    (["--conn-evict-rate=5"], 'unknown arguments: ["--conn-evict-rate=5"]'),
    (["--evacuation", "--nodes", "x", "--wait-takeover", "5"],
     'unknown evacuation arguments: [{"--nodes","x"},{"--wait-takeover","5"}]'),
    # the rest is printed in the (sorted) order of validation, the flag as {"--evacuation",true}
    (["--evacuation", "--conn-evict-rpc-timeout", "5"],
     'unknown evacuation arguments: [{"--conn-evict-rpc-timeout","5"},{"--evacuation",true}]'),
    (["--abs-conn-threshold", "5", "--evacuation"],
     'unknown evacuation arguments: [{"--abs-conn-threshold","5"},{"--evacuation",true}]'),
    (["--redirect-to", "h:1883"], 'unknown rebalance arguments: [{"--redirect-to","h:1883"}]'),
    (["--migrate-to", "x", "--wait-takeover", "5"],
     'unknown rebalance arguments: [{"--migrate-to","x"},{"--wait-takeover","5"}]'),
    (["--conn-evict-rate", "0"], "invalid --conn-evict-rate value"),
    (["--conn-evict-rate", "-3"], "invalid --conn-evict-rate value"),
    (["--conn-evict-rate", "1.5"], "invalid --conn-evict-rate value"),
    (["--conn-evict-rate", "2147483648"], "invalid --conn-evict-rate value"),
    (["--sess-evict-rate", "x"], "invalid --sess-evict-rate value"),
    (["--abs-conn-threshold", "0"], "invalid --abs-conn-threshold value"),
    (["--abs-sess-threshold", ""], "invalid --abs-sess-threshold value"),
    (["--rel-conn-threshold", "1.0"], "invalid --rel-conn-threshold value"),
    (["--rel-sess-threshold", "1"], "invalid --rel-sess-threshold value"),
    (["--rel-sess-threshold", "abc"], "invalid --rel-sess-threshold value"),
    (["--wait-health-check", "-1"], "invalid --wait-health-check value"),
    (["--wait-takeover", "4294968"], "invalid --wait-takeover value"),
    (["--conn-evict-rpc-timeout", "0"], "invalid --conn-evict-rpc-timeout value"),
    (["--sess-evict-rpc-timeout", "1s"], "invalid --sess-evict-rpc-timeout value"),
    (["--evacuation", "--wait-takeover", "x"], "invalid --wait-takeover value"),
    (["--evacuation", "--sess-evict-rate", "0"], "invalid --sess-evict-rate value"),
    # validated in lexicographic order of the option names: the first failure wins
    (["--wait-takeover", "x", "--conn-evict-rate", "0"], "invalid --conn-evict-rate value"),
    (["--sess-evict-rate", "0", "--abs-sess-threshold", "0"], "invalid --abs-sess-threshold value"),
]


@pytest.mark.parametrize("args,message", PARSE_ERRORS, ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_start_parse_errors(ctl, fake, args, message):
    fails(run(ctl, fake, "rebalance", "start", *args), "Rebalance start error: " + message)
    assert fake.requests == [], "nothing is asked of the node for a malformed command line"


NODE_ERRORS = [
    (["--nodes", "x@h"], 'invalid --nodes, invalid nodes: ["x@h"]'),
    (["--nodes", "%s,x@h,y" % N1], 'invalid --nodes, invalid nodes: ["x@h","y"]'),
    (["--nodes", ""], "invalid --nodes, no nodes"),
    (["--nodes", " , ,"], "invalid --nodes, no nodes"),
    (["--nodes", N3], "invalid --nodes, no nodes"),
    (["--nodes", "%s %s" % (N1, N3)], "invalid --nodes, unavailable nodes: ['tidemq3@127.0.0.3']"),
    (["--evacuation", "--migrate-to", "x"], 'invalid --migrate-to, invalid nodes: ["x"]'),
    (["--evacuation", "--migrate-to", ""], "invalid --migrate-to, no nodes"),
    (["--evacuation", "--migrate-to", "%s,%s" % (N2, N3)], "invalid --migrate-to, unavailable nodes: ['%s']" % N3),
    # a node list before an invalid value: the node list's error comes first
    (["--conn-evict-rate", "5", "--nodes", "x", "--wait-takeover", "y"], 'invalid --nodes, invalid nodes: ["x"]'),
    # a good node list, then a bad value
    (["--nodes", N2, "--wait-takeover", "y"], "invalid --wait-takeover value"),
    (["--evacuation", "--migrate-to", N2, "--nodes", "x"], 'unknown evacuation arguments: [{"--nodes","x"}]'),
]


@pytest.mark.parametrize("args,message", NODE_ERRORS, ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_start_node_list_errors(ctl, fake, args, message):
    fails(run(ctl, fake, "rebalance", "start", *args), "Rebalance start error: " + message)
    assert fake.posts() == []
    assert [r.path for r in fake.requests] == ["/api/v4/cluster", API + "/global_status"]


BUSY_ERRORS = [
    # N2 evacuates, is a donor of a rebalance, or did not answer global_status: not available
    ({"evacuating": [N2]}, ["--nodes", "%s,%s" % (N1, N2)], "invalid --nodes, unavailable nodes: ['%s']" % N2),
    ({"donors": [N2]}, ["--nodes", "%s %s" % (N1, N2)], "invalid --nodes, unavailable nodes: ['%s']" % N2),
    ({"unreachable": [N2]}, ["--nodes", "%s,%s" % (N1, N2)], "invalid --nodes, unavailable nodes: ['%s']" % N2),
    ({"evacuating": [N2]}, ["--nodes", N2], "invalid --nodes, no nodes"),
    ({"evacuating": [N2]}, ["--evacuation", "--migrate-to", N2], "invalid --migrate-to, no nodes"),
    ({"donors": [N1, N2]}, ["--evacuation", "--migrate-to", "%s,%s" % (N1, N2)], "invalid --migrate-to, no nodes"),
    ({"evacuating": [N2]}, ["--evacuation", "--migrate-to", "%s,%s" % (N1, N2)],
     "invalid --migrate-to, unavailable nodes: ['%s']" % N2),
]


@pytest.mark.parametrize("busy,args,message", BUSY_ERRORS)
def test_start_node_list_errors_for_busy_nodes(ctl, fake, busy, args, message):
    fake.busy(**busy)
    fails(run(ctl, fake, "rebalance", "start", *args), "Rebalance start error: " + message)
    assert fake.posts() == []


# --- stop ----------------------------------------------------------------------------------

EVACUATION = {"status": "enabled", "process": "evacuation", "state": "waiting_takeover",
              "connection_eviction_rate": 30, "session_eviction_rate": 30, "connection_goal": 0, "session_goal": 0,
              "session_recipients": ["emqx2@127.0.0.1"],
              "stats": {"initial_connected": 233, "current_connected": 0, "initial_sessions": 247,
                        "current_sessions": 247},
              "progress": 40, "eta_seconds": 36}


def test_stop_evacuation_first(ctl, fake):
    fake.status(EVACUATION)
    fake.ok("POST", API + "/%s/evacuation/stop" % N1)
    fake.ok("POST", API + "/%s/stop" % N1)
    ok(run(ctl, fake, "rebalance", "stop"), "Rebalance(evacuation) stopped\n")
    assert fake.posts() == [(API + "/%s/evacuation/stop" % enc(N1), {})]


def test_stop_rebalance(ctl, fake):
    fake.status({"status": "disabled"})
    fake.ok("POST", API + "/%s/stop" % N1)
    ok(run(ctl, fake, "rebalance", "stop"), "Rebalance stopped\n")
    assert fake.posts() == [(API + "/%s/stop" % enc(N1), {})]


def test_stop_when_nothing_runs(ctl, fake):
    fake.status({"status": "disabled", "last_result": {"result": "completed", "reason": None,
                                                        "finished_at": "2026-01-01T00:00:00.000Z"}})
    fake.refuse("POST", API + "/%s/stop" % N1, "not_started")
    fails(run(ctl, fake, "rebalance", "stop"), "Rebalance is already disabled")
    # the evacuation ended between the status and the stop
    fake.status(EVACUATION)
    fake.refuse("POST", API + "/%s/evacuation/stop" % N1, "not_started")
    fails(run(ctl, fake, "rebalance", "stop"), "Rebalance is already disabled")


def test_stop_other_error(ctl, fake):
    fake.status({"status": "disabled"})
    fake.refuse("POST", API + "/%s/stop" % N1, "Error communicating with node 'tidemq1@127.0.0.1'")
    fails(run(ctl, fake, "rebalance", "stop"),
          "Rebalance stop error: Error communicating with node 'tidemq1@127.0.0.1'")


# --- node-status ---------------------------------------------------------------------------

def test_node_status_disabled(ctl, fake):
    fake.status({"status": "disabled"})
    ok(run(ctl, fake, "rebalance", "node-status"), "Rebalance disabled\n")
    fake.status({"status": "disabled", "last_result": {"result": "aborted", "reason": "x",
                                                        "finished_at": "2026-01-01T00:00:00.000Z"}})
    ok(run(ctl, fake, "rebalance", "node-status"), "Rebalance disabled\n")


# EVACUATION as node-status and status print it (after their own first line)
EVACUATION_LINES = ("Rebalance state: waiting_takeover\n"
                    "Connection eviction rate: 30 connections/second\n"
                    "Session eviction rate: 30 sessions/second\n"
                    "Connection goal: 0\n"
                    "Session goal: 0\n"
                    "Session recipient  nodes: ['emqx2@127.0.0.1']\n"
                    "Channel statistics:\n"
                    "  current_connected: 0\n"
                    "  current_sessions: 247\n"
                    "  initial_connected: 233\n"
                    "  initial_sessions: 247\n")


def test_node_status_evacuation(ctl, fake):
    fake.status(EVACUATION)
    ok(run(ctl, fake, "rebalance", "node-status"), "Rebalance type: evacuation\n" + EVACUATION_LINES + "\n")


DONOR = {"status": "enabled", "process": "rebalance", "state": "evicting_conns",
         "coordinator_node": "emqx1@127.0.0.1", "connection_eviction_rate": 10, "session_eviction_rate": 20,
         "recipients": ["emqx2@127.0.0.1", "emqx3@127.0.0.1"], "connection_goal": 50.0,
         "disconnected_session_goal": 333.3333333333333,
         "stats": {"initial_connected": 100, "initial_sessions": 100, "current_connected": 60,
                   "current_sessions": 100, "current_disconnected_sessions": 40},
         "progress": 40, "eta_seconds": 4}

DONOR_TEXT = ("Rebalance type: rebalance\n"
              "Rebalance state: evicting_conns\n"
              "Coordinator node: 'emqx1@127.0.0.1'\n"
              "Connection eviction rate: 10 connections/second\n"
              "Session eviction rate: 20 sessions/second\n"
              "Connection goal: 50.0\n"
              "Disconnected session goal: 333.3333333333333\n"
              "Recipient nodes: ['emqx2@127.0.0.1','emqx3@127.0.0.1']\n"
              "Channel statistics:\n"
              "  current_connected: 60\n"
              "  current_disconnected_sessions: 40\n"
              "  current_sessions: 100\n"
              "  initial_connected: 100\n"
              "  initial_sessions: 100\n"
              "\n")


def test_node_status_donor(ctl, fake):
    fake.status(DONOR)
    ok(run(ctl, fake, "rebalance", "node-status"), DONOR_TEXT)


def test_node_status_donor_before_the_first_tick(ctl, fake):
    doc = {k: v for k, v in DONOR.items() if k not in ("connection_goal", "disconnected_session_goal")}
    doc["state"] = "wait_health_check"
    fake.status(doc)
    ok(run(ctl, fake, "rebalance", "node-status"),
       DONOR_TEXT.replace("evicting_conns", "wait_health_check")
       .replace("Connection goal: 50.0\n", "").replace("Disconnected session goal: 333.3333333333333\n", ""))


COORDINATOR = {"state": "evicting_sessions", "coordinator_node": N1, "connection_eviction_rate": 10,
               "session_eviction_rate": 10, "donors": [N1, N2], "recipients": [N3], "connection_goal": 1000.0,
               "disconnected_session_goal": 2340.0, "donor_conn_avg": 2553.3333333333335, "donor_sess_avg": 2500.0,
               "progress": 10, "eta_seconds": 12}

COORDINATOR_LINES = ("Rebalance state: evicting_sessions\n"
                     "Coordinator node: 'tidemq1@127.0.0.1'\n"
                     "Donor nodes: ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']\n"
                     "Recipient nodes: ['tidemq3@127.0.0.3']\n"
                     "Connection eviction rate: 10 connections/second\n"
                     "Session eviction rate: 10 sessions/second\n"
                     # Erlang's ~p: the shorter of the fixed and exponent forms, fixed on a tie
                     "Connection goal: 1.0e3\n"
                     "Disconnected session goal: 2340.0\n"
                     "Current average donor node connection count: 2553.3333333333335\n"
                     "Current average donor node disconnected session count: 2.5e3\n")


def test_node_status_coordinator_that_is_not_a_donor(ctl, fake):
    """The coordinator block, not `Rebalance disabled` ("CLI output")."""
    fake.status(dict(COORDINATOR, status="enabled", process="rebalance"))
    ok(run(ctl, fake, "rebalance", "node-status"), "Rebalance type: rebalance\n" + COORDINATOR_LINES + "\n")


def test_node_status_of_another_node(ctl, fake):
    fake.status(DONOR, path=API + "/%s/status" % N2)
    ok(run(ctl, fake, "rebalance", "node-status", N2), DONOR_TEXT)
    assert [r.path for r in fake.requests] == [API + "/%s/status" % enc(N2)]
    fake.status({"status": "disabled"}, path=API + "/%s/status" % N2)
    ok(run(ctl, fake, "rebalance", "node-status", N2), "Rebalance disabled\n")


@pytest.mark.parametrize("node,message,line", [
    ("nobody@h", "invalid node: nobody@h", "Node status error: invalid node"),
    (N3, "invalid node: " + N3, "Error detecting rebalance status: {badrpc,nodedown}"),  # known, but down
    (N2, "Error communicating with node '%s': node %s is down" % (N2, N2),
     "Error detecting rebalance status: {badrpc,nodedown}"),
    (N2, "Error communicating with node '%s': no answer in time" % N2,
     "Error detecting rebalance status: {badrpc,timeout}"),
], ids=["unknown", "stopped", "down", "timeout"])
def test_node_status_errors(ctl, fake, node, message, line):
    fake.answers[("GET", API + "/%s/status" % node)] = (200, {"code": 400, "message": message})
    fails(run(ctl, fake, "rebalance", "node-status", node), line)


def test_erlang_formatting_of_atoms_and_long_lists(ctl, fake):
    """Node names are atoms: quoted only when Erlang quotes them. Lists longer than the
    80-column line wrap as io_lib_pretty wraps them, under the first element."""
    doc = dict(EVACUATION, session_recipients=["tidemq2@127.0.0.2", "tidemq3@127.0.0.3", "tidemq4@127.0.0.4",
                                               "tidemq5@127.0.0.5", "tidemq6@127.0.0.6"])
    fake.status(doc)
    r = run(ctl, fake, "rebalance", "node-status")
    assert r.rc == 0, r
    indent = " " * len("Session recipient  nodes: [")
    assert ("Session recipient  nodes: ['tidemq2@127.0.0.2','tidemq3@127.0.0.3',\n"
            + indent + "'tidemq4@127.0.0.4','tidemq5@127.0.0.5',\n"
            + indent + "'tidemq6@127.0.0.6']\n") in r.out, r
    doc = dict(DONOR, coordinator_node="tidemq@localhost", recipients=["a@h", "tidemq@127.0.0.1"])
    fake.status(doc)
    r = run(ctl, fake, "rebalance", "node-status")
    assert "Coordinator node: tidemq@localhost\n" in r.out and "Recipient nodes: [a@h,'tidemq@127.0.0.1']\n" in r.out, r
    fake.status(dict(EVACUATION, session_recipients=[]))
    assert "Session recipient  nodes: []\n" in run(ctl, fake, "rebalance", "node-status").out


# --- global status ---------------------------------------------------------------------------

def test_global_status_nothing_running(ctl, fake):
    fake.status({"rebalances": [], "evacuations": []}, path=API + "/global_status")
    ok(run(ctl, fake, "rebalance", "status"), "")


def test_global_status(ctl, fake):
    evacuation = {k: v for k, v in EVACUATION.items() if k not in ("status", "process")}
    evacuation["node"] = "emqx1@127.0.0.1"
    fake.status({"rebalances": [dict(COORDINATOR, node=N1)], "evacuations": [evacuation]},
                path=API + "/global_status")
    ok(run(ctl, fake, "rebalance", "status"),
       DASHES + "\n"
       "Node 'emqx1@127.0.0.1': evacuation\n"
       + EVACUATION_LINES
       + DASHES + "\n"
       "Node 'tidemq1@127.0.0.1': rebalance coordinator\n"
       + COORDINATOR_LINES)
    assert len(DASHES) == 68


def test_global_status_two_evacuations_and_unreachable_nodes(ctl, fake):
    e1 = {"node": N1, "state": "evicting_conns", "connection_eviction_rate": 5, "session_eviction_rate": 5,
          "connection_goal": 0, "session_goal": 0, "session_recipients": [N2],
          "stats": {"initial_connected": 3, "current_connected": 3, "initial_sessions": 3, "current_sessions": 3}}
    e2 = dict(e1, node=N2, state="prohibiting", session_recipients=[])
    fake.status({"rebalances": [], "evacuations": [e1, e2], "unreachable": [N3]}, path=API + "/global_status")
    r = run(ctl, fake, "rebalance", "status")
    block = ("Rebalance state: {state}\nConnection eviction rate: 5 connections/second\n"
             "Session eviction rate: 5 sessions/second\nConnection goal: 0\nSession goal: 0\n"
             "Session recipient  nodes: {recipients}\nChannel statistics:\n  current_connected: 3\n"
             "  current_sessions: 3\n  initial_connected: 3\n  initial_sessions: 3\n")
    assert r.rc == 0, r
    assert r.out == (DASHES + "\nNode 'tidemq1@127.0.0.1': evacuation\n"
                     + block.format(state="evicting_conns", recipients="['tidemq2@127.0.0.2']")
                     + DASHES + "\nNode 'tidemq2@127.0.0.2': evacuation\n"
                     + block.format(state="prohibiting", recipients="[]")), r
    assert r.err == "Warning: no answer from ['tidemq3@127.0.0.3']\n", r


# --- eviction status -------------------------------------------------------------------------

def test_eviction_status(ctl, fake):
    path = "/api/v4/node_eviction/status"
    fake.status({"status": "disabled"}, path=path)
    ok(run(ctl, fake, "eviction", "status"), "Eviction status: disabled\n")
    fake.status({"status": "enabled", "stats": {"connections": 3, "sessions": 5}}, path=path)
    ok(run(ctl, fake, "eviction", "status"), "Eviction status: enabled\n")
    fake.status({"nope": 1}, path=path)
    fails(run(ctl, fake, "eviction", "status"), "Error: unexpected answer from " + path)


# --- failures of the API itself ---------------------------------------------------------------

def test_api_failures(ctl, fake):
    # a node without the rebalance API
    fails(run(ctl, fake, "rebalance", "node-status"),
          "Error: GET %s/status not found on %s: the node does not provide this API" % (API, fake.url))
    fails(run(ctl, fake, "rebalance", "start", "--evacuation"),
          "Error: POST %s/%s/evacuation/start not found on %s: the node does not provide this API"
          % (API, enc(N1), fake.url))
    fake.answers[("POST", API + "/%s/start" % N1)] = (401, {"code": 401, "message": "UNAUTHORIZED"})
    r = run(ctl, fake, "rebalance", "start")
    assert r.rc == 1 and r.err.startswith("Error: authentication failed as 'admin'"), r


# --- usage -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["rebalance"],
    ["rebalance", "frob"],
    ["rebalance", "node-status", N1, N2],
    ["rebalance", "status", "extra"],
    ["rebalance", "status", "--bogus"],
    ["rebalance", "stop", "extra"],
    ["eviction"],
    ["eviction", "frob"],
    ["eviction", "status", "extra"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(ctl, fake, args):
    r = run(ctl, fake, *args)
    assert r.rc == 2 and r.out == "" and r.err.strip(), r
    assert fake.requests == [], "a usage error must be reported before anything is sent"


def test_usage_text_of_the_groups(ctl, fake):
    r = run(ctl, fake, "rebalance")
    for word in ("start", "stop", "node-status", "status", "plan"):
        assert word in r.err, r
    r = run(ctl, fake, "rebalance", "frob")
    assert r.err.startswith("Unknown command: frob\n") and "node-status" in r.err, r
    assert "status" in run(ctl, fake, "eviction").err
    r = run(ctl, fake, "rebalance", "start", "--help")
    assert r.rc == 0 and "--evacuation" in r.out and "--rel-sess-threshold" in r.out and "--wait" in r.out, r
    r = run(ctl, fake, "rebalance", "plan", "--help")
    assert r.rc == 0 and "Projected duration" in r.out, r
    assert fake.requests == []


# --- plan ------------------------------------------------------------------------------------

PLAN = {"nothing_to_balance": False, "donors": [N1, N2], "recipients": [N3],
        "nodes": [{"node": N1, "role": "donor", "connections": 3000, "sessions": 3100, "disconnected_sessions": 100,
                   "connections_to_evict": 1000, "sessions_to_migrate": 33},
                  {"node": N2, "role": "donor", "connections": 3000, "sessions": 3000, "disconnected_sessions": 0,
                   "connections_to_evict": 1000, "sessions_to_migrate": 0},
                  {"node": N3, "role": "recipient", "connections": 0, "sessions": 0, "disconnected_sessions": 0,
                   "connections_to_receive": 2000, "sessions_to_receive": 33}],
        "projected_seconds": {"wait_health_check": 60, "evicting_conns": 2, "wait_takeover": 60,
                              "evicting_sessions": 3663, "total": 3785}}

ROW = "%-17s  %-9s  %11s  %8s  %12s  %16s  %13s\n"
PLAN_HEAD = ("Rebalance plan (a dry run: nothing was changed)\n"
             "Donor nodes: ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']\n"
             "Recipient nodes: ['tidemq3@127.0.0.3']\n"
             + ROW % ("Node", "Role", "Connections", "Sessions", "Disconnected", "Move connections", "Move sessions")
             + ROW % (N1, "donor", 3000, 3100, 100, "-1000", "-33")
             + ROW % (N2, "donor", 3000, 3000, 0, "-1000", "0")
             + ROW % (N3, "recipient", 0, 0, 0, "+2000", "+33"))


def test_plan(ctl, fake):
    fake.answers[("POST", API + "/%s/plan" % N1)] = (200, {"code": 0, "data": PLAN})
    r = run(ctl, fake, "rebalance", "plan", "--conn-evict-rate", "500", "--nodes", "%s,%s" % (N1, N2),
            "--rel-conn-threshold", "2")
    ok(r, PLAN_HEAD + "Projected duration: 1h 3m 5s (wait_health_check 1m, evicting_conns 2s, wait_takeover 1m, "
                      "evicting_sessions 1h 1m 3s)\n")
    assert fake.posts() == [(API + "/%s/plan" % enc(N1),
                             {"conn_evict_rate": 500, "nodes": [N1, N2], "rel_conn_threshold": 2.0})]


def test_plan_nothing_to_balance(ctl, fake):
    plan = dict(PLAN, nothing_to_balance=True,
                projected_seconds={k: 0 for k in PLAN["projected_seconds"]})
    fake.answers[("POST", API + "/%s/plan" % N1)] = (200, {"code": 0, "data": plan})
    ok(run(ctl, fake, "rebalance", "plan"), PLAN_HEAD + "Nothing to balance: the nodes are within the thresholds\n")
    assert fake.posts() == [(API + "/%s/plan" % enc(N1), {})]


def test_plan_errors(ctl, fake):
    fails(run(ctl, fake, "rebalance", "plan", "--evacuation"),
          'Rebalance plan error: unknown arguments: ["--evacuation"]')
    fails(run(ctl, fake, "rebalance", "plan", "--wait"), 'Rebalance plan error: unknown arguments: ["--wait"]')
    fails(run(ctl, fake, "rebalance", "plan", "--redirect-to", "x"),
          'Rebalance plan error: unknown rebalance arguments: [{"--redirect-to","x"}]')
    fails(run(ctl, fake, "rebalance", "plan", "--abs-conn-threshold", "0"),
          "Rebalance plan error: invalid --abs-conn-threshold value")
    assert fake.requests == []
    fake.refuse("POST", API + "/%s/plan" % N1, "invalid node: x")
    fails(run(ctl, fake, "rebalance", "plan"), "Rebalance plan error: invalid node: x")


# --- start --wait ------------------------------------------------------------------------------

def evac(state, progress, eta):
    return dict(EVACUATION, state=state, progress=progress, eta_seconds=eta)


def test_evacuation_wait_until_prohibiting(ctl, fake):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    fake.status([evac("evicting_conns", 0, 3), evac("evicting_conns", 50, 1), evac("evicting_conns", 50, 1),
                 evac("waiting_takeover", 0, None), dict(evac("prohibiting", 100, 0), failed_sessions=2)])
    r = run(ctl, fake, "rebalance", "start", "--evacuation", "--wait", "--wait-takeover", "1")
    assert (r.rc, r.out) == (0, "Rebalance(evacuation) started\n"
                                "Rebalance state: evicting_conns, progress 0%, ETA 3 s\n"
                                "Rebalance state: evicting_conns, progress 50%, ETA 1 s\n"
                                "Rebalance state: waiting_takeover, progress 0%, ETA unknown\n"
                                "Rebalance state: prohibiting, progress 100%, ETA 0 s\n"
                                "Rebalance(evacuation) completed\n"), r
    assert r.err == "Warning: 2 session(s) could not be migrated\n", r
    assert fake.posts() == [(API + "/%s/evacuation/start" % enc(N1), {"wait_takeover": 1})]


def test_evacuation_wait_stopped(ctl, fake):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    fake.status([evac("evicting_conns", 0, 3), {"status": "disabled"}])
    r = run(ctl, fake, "rebalance", "start", "--wait", "--evacuation")
    assert (r.rc, r.out, r.err) == (1, "Rebalance(evacuation) started\n"
                                       "Rebalance state: evicting_conns, progress 0%, ETA 3 s\n",
                                    "Rebalance(evacuation) stopped before it completed\n"), r


def coordinating(state, progress, eta):
    return dict(COORDINATOR, status="enabled", process="rebalance", state=state, progress=progress, eta_seconds=eta)


def finished(result, reason=None):
    return {"status": "disabled",
            "last_result": {"result": result, "reason": reason, "finished_at": "2026-11-22T02:00:00.000Z"}}


def test_rebalance_wait_completed(ctl, fake):
    fake.ok("POST", API + "/%s/start" % N1)
    fake.status([coordinating("wait_health_check", 50, 1), coordinating("evicting_conns", 0, None),
                 dict(DONOR, progress=60, eta_seconds=2), finished("completed")])
    r = run(ctl, fake, "rebalance", "start", "--wait", "--wait-health-check", "2")
    assert (r.rc, r.out, r.err) == (0, "Rebalance started\n"
                                       "Rebalance state: wait_health_check, progress 50%, ETA 1 s\n"
                                       "Rebalance state: evicting_conns, progress 0%, ETA unknown\n"
                                       "Rebalance state: evicting_conns, progress 60%, ETA 2 s\n"
                                       "Rebalance completed\n", ""), r
    assert fake.posts()[0][1] == {"wait_health_check": 2}


@pytest.mark.parametrize("result,reason,line", [
    ("aborted", "node 'tidemq2@127.0.0.2' is down", "Rebalance aborted: node 'tidemq2@127.0.0.2' is down"),
    ("aborted", None, "Rebalance aborted"),
    ("stopped", None, "Rebalance stopped before it completed"),
])
def test_rebalance_wait_not_completed(ctl, fake, result, reason, line):
    fake.ok("POST", API + "/%s/start" % N1)
    fake.status([coordinating("evicting_conns", 10, 9), finished(result, reason)])
    r = run(ctl, fake, "rebalance", "start", "--wait")
    assert (r.rc, r.out, r.err) == (1, "Rebalance started\nRebalance state: evicting_conns, progress 10%, ETA 9 s\n",
                                    line + "\n"), r


def test_wait_on_a_terminal_rewrites_one_line(ctl_bin, fake):
    fake.ok("POST", API + "/%s/evacuation/start" % N1)
    fake.status([evac("evicting_conns", 0, 3), evac("evicting_conns", 50, 1), evac("prohibiting", 100, 0)])
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEMQ_")}
    env.update(fake.env)
    p = subprocess.Popen([str(ctl_bin), "rebalance", "start", "--evacuation", "--wait"], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + CTL_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    assert p.wait(timeout=CTL_TIMEOUT) == 0
    text = out.decode().replace("\r\n", "\n")
    lines = ["Rebalance state: evicting_conns, progress 0%, ETA 3 s",
             "Rebalance state: evicting_conns, progress 50%, ETA 1 s",
             "Rebalance state: prohibiting, progress 100%, ETA 0 s"]
    # each line overwrites the previous one, padded with spaces where it is shorter
    shown = "".join("\r" + line + " " * max(0, (len(lines[i - 1]) if i else 0) - len(line))
                    for i, line in enumerate(lines))
    assert text == "Rebalance(evacuation) started\n" + shown + "\nRebalance(evacuation) completed\n", repr(text)


# --- a real node ---------------------------------------------------------------------------------

@pytest.fixture
def node(broker_factory):
    """A single node (clustering off) with its admin API on a free port."""
    for attempt in range(3):
        port = free_port()
        b = broker_factory(settings={"management.listener.http.bind": "127.0.0.1:%d" % port}, start=False)
        b.start()
        if wait_admin_listening(b, port):
            b.ctl_flags = ["--url", "http://127.0.0.1:%d" % port, "--user", "admin", "--password", "public"]
            return b
        if attempt == 2 or "cannot listen" not in b.logs():
            raise AssertionError("node did not start:\n" + b.logs())


def node_name(ctl, node):
    r = ctl("status", node=node)
    assert r.rc == 0, r
    return re.match(r"Node '([^']+)'", r.out).group(1)


PROHIBITING = ("Rebalance type: evacuation\n"
               "Rebalance state: prohibiting\n"
               "Connection eviction rate: {rate} connections/second\n"
               "Session eviction rate: 500 sessions/second\n"
               "Connection goal: 0\n"
               "Session goal: 0\n"
               "Session recipient  nodes: []\n"
               "Channel statistics:\n"
               "  current_connected: 0\n"
               "  current_sessions: 0\n"
               "  initial_connected: 0\n"
               "  initial_sessions: 0\n")


def wait_node_status(ctl, node, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        r = ctl("rebalance", "node-status", node=node)
        if (r.rc, r.out, r.err) == (0, text, "") or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_real_node_evacuation_start_stop(ctl, node):
    name = node_name(ctl, node)
    atom = "'%s'" % name if re.search(r"[^a-zA-Z0-9_@]", name) else name
    ok(ctl("eviction", "status", node=node), "Eviction status: disabled\n")
    ok(ctl("rebalance", "node-status", node=node), "Rebalance disabled\n")
    ok(ctl("rebalance", "status", node=node), "")

    ok(ctl("rebalance", "start", "--evacuation", "--wait-takeover", "1", "--conn-evict-rate", "10",
           "--redirect-to", "127.0.0.1:1883", node=node), "Rebalance(evacuation) started\n")
    fails(ctl("rebalance", "start", "--evacuation", node=node), "Rebalance is already enabled")
    ok(ctl("eviction", "status", node=node), "Eviction status: enabled\n")
    # no connections, no sessions: prohibiting once the takeover wait is over
    ok(wait_node_status(ctl, node, PROHIBITING.format(rate=10) + "\n"), PROHIBITING.format(rate=10) + "\n")
    ok(ctl("rebalance", "node-status", name, node=node), PROHIBITING.format(rate=10) + "\n")
    global_text = PROHIBITING.format(rate=10).replace("Rebalance type: evacuation\n",
                                                       DASHES + "\nNode %s: evacuation\n" % atom)
    ok(ctl("rebalance", "status", node=node), global_text)
    fails(ctl("rebalance", "start", node=node), "Rebalance start error: nothing_to_balance")

    ok(ctl("rebalance", "stop", node=node), "Rebalance(evacuation) stopped\n")
    ok(ctl("eviction", "status", node=node), "Eviction status: disabled\n")
    ok(ctl("rebalance", "node-status", node=node), "Rebalance disabled\n")
    fails(ctl("rebalance", "stop", node=node), "Rebalance is already disabled")
    fails(ctl("rebalance", "node-status", "nobody@nowhere", node=node), "Node status error: invalid node")


def test_real_node_evacuation_wait(ctl, node):
    r = ctl("rebalance", "start", "--evacuation", "--wait", "--wait-takeover", "1", node=node)
    assert r.rc == 0 and r.err == "", r
    lines = r.out.splitlines()
    assert lines[0] == "Rebalance(evacuation) started" and lines[-1] == "Rebalance(evacuation) completed", r
    assert lines[-2].startswith("Rebalance state: prohibiting, progress 100%"), r
    for line in lines[1:-1]:
        assert re.fullmatch(r"Rebalance state: [a-z_]+, progress \d+%, ETA (\d+ s|unknown)", line), r
    ok(ctl("rebalance", "node-status", node=node), PROHIBITING.format(rate=500) + "\n")
    ok(ctl("rebalance", "stop", node=node), "Rebalance(evacuation) stopped\n")


def test_real_node_plan(ctl, node):
    name = node_name(ctl, node)
    atom = "'%s'" % name if re.search(r"[^a-zA-Z0-9_@]", name) else name
    width = max(len("Node"), len(name))
    row = "%-" + str(width) + "s  %-5s  %11s  %8s  %12s  %16s  %13s\n"
    ok(ctl("rebalance", "plan", node=node),
       "Rebalance plan (a dry run: nothing was changed)\n"
       "Donor nodes: [%s]\n"
       "Recipient nodes: []\n" % atom
       + row % ("Node", "Role", "Connections", "Sessions", "Disconnected", "Move connections", "Move sessions")
       + row % (name, "donor", 0, 0, 0, 0, 0)
       + "Nothing to balance: the nodes are within the thresholds\n")
    fails(ctl("rebalance", "plan", "--nodes", "x@y", node=node),
          'Rebalance plan error: invalid --nodes, invalid nodes: ["x@y"]')


# --- a real cluster --------------------------------------------------------------------------------

def ctl_popen(node, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEMQ_")}
    return subprocess.Popen([str(CTL_BIN)] + list(args) + node.ctl_flags, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def progress_lines(out):
    lines = out.splitlines()
    for line in lines[1:-1]:
        assert re.fullmatch(r"Rebalance state: [a-z_]+, progress \d+%, ETA (\d+ s|unknown)", line), out
    return lines


RUN = ["--conn-evict-rate", "50", "--sess-evict-rate", "50", "--wait-takeover", "1", "--abs-conn-threshold", "3",
       "--abs-sess-threshold", "3", "--rel-conn-threshold", "1.1", "--rel-sess-threshold", "1.1"]


def test_cluster_plan_and_wait_for_a_completed_rebalance(cluster, ctl):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    fleet = Fleet(c.nodes)
    try:
        for i in range(45):
            fleet.connect("rbctl-%02d" % i, 0)
        # node 3 coordinates: the dry run says node 1 gives, nodes 2 and 3 receive; nothing changes
        r = ctl("rebalance", "plan", *RUN, node=n3)
        assert r.rc == 0 and r.err == "", r
        lines = r.out.splitlines()
        assert lines[:4] == ["Rebalance plan (a dry run: nothing was changed)",
                             "Donor nodes: ['tidemq1@127.0.0.1']",
                             "Recipient nodes: ['tidemq2@127.0.0.2','tidemq3@127.0.0.3']",
                             (ROW % ("Node", "Role", "Connections", "Sessions", "Disconnected", "Move connections",
                                     "Move sessions")).rstrip("\n")], r
        assert len(lines) == 8, r
        cells = [line.split() for line in lines[4:7]]
        assert [row[:5] for row in cells] == [[n1.name, "donor", "45", "45", "0"],
                                              [n2.name, "recipient", "0", "0", "0"],
                                              [n3.name, "recipient", "0", "0", "0"]], r
        assert cells[0][5].startswith("-") and cells[1][5].startswith("+") and cells[2][5].startswith("+"), r
        assert int(cells[0][5]) + int(cells[1][5]) + int(cells[2][5]) == 0, r
        assert lines[7].startswith("Projected duration: "), r
        ok(ctl("eviction", "status", node=n1), "Eviction status: disabled\n")

        p = ctl_popen(n3, "rebalance", "start", "--wait", "--wait-health-check", "5", *RUN)
        # while the donor waits for the load balancers: the texts of "CLI output"
        coordinator = (DASHES + "\n"
                       "Node 'tidemq3@127.0.0.3': rebalance coordinator\n"
                       "Rebalance state: wait_health_check\n"
                       "Coordinator node: 'tidemq3@127.0.0.3'\n"
                       "Donor nodes: ['tidemq1@127.0.0.1']\n"
                       "Recipient nodes: ['tidemq2@127.0.0.2','tidemq3@127.0.0.3']\n"
                       "Connection eviction rate: 50 connections/second\n"
                       "Session eviction rate: 50 sessions/second\n")
        poll(lambda: (lambda r: (r.out == coordinator, r))(ctl("rebalance", "status", node=n2)), 2.0,
             "the coordinator in the global status")
        donor = ("Rebalance type: rebalance\n"
                 "Rebalance state: wait_health_check\n"
                 "Coordinator node: 'tidemq3@127.0.0.3'\n"
                 "Connection eviction rate: 50 connections/second\n"
                 "Session eviction rate: 50 sessions/second\n"
                 "Recipient nodes: ['tidemq2@127.0.0.2','tidemq3@127.0.0.3']\n"
                 "Channel statistics:\n"
                 "  current_connected: 45\n"
                 "  current_disconnected_sessions: 0\n"
                 "  current_sessions: 45\n"
                 "  initial_connected: 45\n"
                 "  initial_sessions: 45\n"
                 "\n")
        # (a donor learns about the run with the coordinator's first lease renewal, within 1 s)
        poll(lambda: (lambda r: (r.out == donor, r))(ctl("rebalance", "node-status", node=n1)), 2.0,
             "node 1 shows its donor status")
        ok(ctl("rebalance", "node-status", n1.name, node=n2), donor)
        # the coordinator, not a donor, shows its own block; a recipient is disabled
        ok(ctl("rebalance", "node-status", node=n3),
           "Rebalance type: rebalance\n" + coordinator.split("coordinator\n", 1)[1] + "\n")
        ok(ctl("rebalance", "node-status", node=n2), "Rebalance disabled\n")
        ok(ctl("eviction", "status", node=n1), "Eviction status: enabled\n")
        ok(ctl("eviction", "status", node=n3), "Eviction status: disabled\n")
        fails(ctl("rebalance", "start", *RUN, node=n3), "Rebalance start error: already_started")
        fails(ctl("rebalance", "start", "--evacuation", node=n1), "Rebalance start error: eviction_agent_busy")

        deadline = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < deadline:
            fleet.serve(0.2)
        out, err = p.communicate(timeout=CTL_TIMEOUT)
        out, err = out.decode(), err.decode()
        assert (p.returncode, err) == (0, ""), (p.returncode, out, err)
        lines = progress_lines(out)
        assert lines[0] == "Rebalance started" and lines[-1] == "Rebalance completed", out
        assert lines[1].startswith("Rebalance state: wait_health_check, progress "), out
        assert any(line.startswith("Rebalance state: evicting_conns") for line in lines), out
        fleet.serve(0.3)
        counts = [sum(1 for _, i in fleet.clients.values() if i == k) for k in range(3)]
        assert sum(counts) == 45 and counts[1] + counts[2] > 0, counts
        ok(ctl("rebalance", "node-status", node=n1), "Rebalance disabled\n")
        ok(ctl("rebalance", "node-status", node=n3), "Rebalance disabled\n")
        ok(ctl("rebalance", "status", node=n2), "")
        ok(ctl("eviction", "status", node=n1), "Eviction status: disabled\n")
        fails(ctl("rebalance", "stop", node=n3), "Rebalance is already disabled")
    finally:
        fleet.close()


def test_cluster_wait_for_a_rebalance_that_aborts(cluster, ctl):
    c = cluster(3)
    n1, n2, n3 = c.nodes
    clients = []
    try:
        for i in range(30):
            cl = mqttraw.RawClient(n2.host, n2.port)
            assert cl.connect("rbab-%02d" % i).rc == 0
            clients.append(cl)
        p = ctl_popen(n1, "rebalance", "start", "--wait", "--wait-health-check", "30", *RUN)
        poll(lambda: (lambda r: (r.out.startswith("Eviction status: enabled"), r))(ctl("eviction", "status", node=n2)),
             5.0, "node 2 becomes a donor")
        n2.kill9()
        out, err = p.communicate(timeout=CTL_TIMEOUT)
        out, err = out.decode(), err.decode()
        assert p.returncode == 1, (out, err)
        lines = progress_lines(out + "(end)")
        assert lines[0] == "Rebalance started" and lines[-1] == "(end)", out
        assert err.startswith("Rebalance aborted: ") and n2.name in err and err.count("\n") == 1, err
        # node 2 is a member that is down
        poll(lambda: (lambda r: (r.err == "Error detecting rebalance status: {badrpc,nodedown}\n", r))(
            ctl("rebalance", "node-status", n2.name, node=n3)), 10.0, "node 2 reported down")
        ok(ctl("rebalance", "node-status", node=n1), "Rebalance disabled\n")
    finally:
        for cl in clients:
            cl.close()


def test_cluster_node_list_errors_print_the_cli_texts(cluster, ctl):
    """A real evacuating node in --nodes / --migrate-to: the CLI's own texts ("CLI start
    arguments"), not the API's (`unavailable nodes in nodes: [...]`)."""
    c = cluster(3)
    n1, n2, n3 = c.nodes
    ok(ctl("rebalance", "start", "--evacuation", node=n2), "Rebalance(evacuation) started\n")
    fails(ctl("rebalance", "start", "--nodes", "%s,%s" % (n1.name, n2.name), node=n1),
          "Rebalance start error: invalid --nodes, unavailable nodes: ['%s']" % n2.name)
    fails(ctl("rebalance", "start", "--nodes", n2.name, node=n1), "Rebalance start error: invalid --nodes, no nodes")
    fails(ctl("rebalance", "start", "--evacuation", "--migrate-to", "%s %s" % (n2.name, n3.name), node=n1),
          "Rebalance start error: invalid --migrate-to, unavailable nodes: ['%s']" % n2.name)
    fails(ctl("rebalance", "start", "--evacuation", "--migrate-to", n2.name, node=n1),
          "Rebalance start error: invalid --migrate-to, no nodes")
    fails(ctl("rebalance", "plan", "--nodes", "%s,%s" % (n1.name, n2.name), node=n1),
          "Rebalance plan error: invalid --nodes, unavailable nodes: ['%s']" % n2.name)
    ok(ctl("rebalance", "stop", node=n2), "Rebalance(evacuation) stopped\n")


def test_cluster_evacuation_migrate_to_itself(cluster, ctl):
    c = cluster(2)
    n1, n2 = c.nodes
    fails(ctl("rebalance", "start", "--evacuation", "--migrate-to", "%s,%s" % (n2.name, n1.name), node=n1),
          "Rebalance start error: invalid --migrate-to, the evacuated node itself: ['%s']" % n1.name)
    ok(ctl("eviction", "status", node=n1), "Eviction status: disabled\n")
