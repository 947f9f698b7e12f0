"""The chaos test in CI (a few short seeded runs against real nodes) and unit tests of its
checker on synthetic event logs.  See tests/chaos/README.md.

    /usr/bin/python3 -m pytest tests/chaos -q                  # unit tests + the CI runs (~2.5 min)
    /usr/bin/python3 -m pytest tests/chaos -q -k checker       # unit tests only (no broker)
    TIDEMQ_CHAOS_SEEDS=7,8,9 /usr/bin/python3 -m pytest tests/chaos -q    # other seeds, same configurations

TIDEMQ_BIN names the broker binary (default build/src/tidemq), as for tests/integration.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos  # noqa: E402
from chaos import Config, check, format_report, make_plan  # noqa: E402


# --- the plan ---------------------------------------------------------------------------------

def test_checker_plan_is_a_function_of_the_seed():
    a = make_plan(Config(seed=5, duration=60, nodes=4, profile="crash"))
    b = make_plan(Config(seed=5, duration=60, nodes=4, profile="crash"))
    c = make_plan(Config(seed=6, duration=60, nodes=4, profile="crash"))
    assert a == b
    assert a["schedule"] != c["schedule"]
    kinds = {x["a"] for x in a["schedule"]}
    assert {"drop", "evac_start", "evac_stop"} <= kinds


def test_checker_strict_plan_has_no_kill_and_only_short_pauses():
    for seed in range(1, 30):
        cfg = Config(seed=seed, duration=60, nodes=3, profile="strict")
        for x in make_plan(cfg)["schedule"]:
            assert x["a"] != "kill"
            if x["a"] in ("pause", "stall"):
                assert x["dur"] < cfg.down_seconds - 0.5, x
                assert not x.get("long")
    with pytest.raises(ValueError):
        Config(seed=1, profile="strict", faults=("drop", "kill")).validate()


def test_checker_schedule_keeps_node_faults_apart():
    for seed in range(1, 40):
        cfg = Config(seed=seed, duration=120, nodes=3, profile="crash")
        sched = make_plan(cfg)["schedule"]
        spans = []
        for x in sched:
            if x["a"] == "kill":
                spans.append((x["t"], x["t"] + x["down"]))
            elif x["a"] == "pause" and x["long"]:
                spans.append((x["t"], x["t"] + x["dur"]))
        spans.sort()
        for (a1, b1), (a2, b2) in zip(spans, spans[1:]):
            assert b1 <= a2, (seed, spans)
        assert all(x["t"] <= cfg.duration for x in sched)


# --- the checker on synthetic logs --------------------------------------------------------------

T = "chaos/x/t0"


def base_log(profile="strict"):
    return {
        "meta": {"profile": profile, "down_seconds": 3.0, "crash_margin": 2.0},
        "clients": {"s1": {"kind": "sub", "version": 5, "filters": [[T, 2]]},
                    "p1": {"kind": "pub", "version": 5, "qos": 2, "topics": [T]}},
        "events": [
            {"ev": "connected", "t": 0.5, "client": "s1", "node": "n1", "session_present": False, "epoch": 0},
            {"ev": "sub_effective", "t": 1.0, "client": "s1", "epoch": 0, "filter": T, "qos": 2},
        ],
        "recv": [],
        "sessions": [],
    }


def publish(log, seq, t, qos=2, ok=True, rc=0, ack=True, pub="p1", topic=T):
    log["events"].append({"ev": "publish", "t": t, "pub": pub, "topic": topic, "seq": seq, "qos": qos})
    if ack:
        log["events"].append({"ev": "ack", "t": t + 0.01, "pub": pub, "topic": topic, "seq": seq, "rc": rc, "ok": ok})


def receive(log, seq, t, client="s1", epoch=0, qos=2, dup=False, pub="p1", topic=T, mid=None):
    log["recv"].append([t, client, epoch, pub, topic, seq, qos, dup, mid if mid is not None else seq])


def test_checker_clean_log_is_ok():
    log = base_log()
    for i in range(1, 11):
        publish(log, i, 1.0 + i)
        receive(log, i, 1.05 + i)
    rep = check(log)
    assert rep["ok"], format_report(rep)
    assert rep["totals"]["owed"] == 10 and rep["totals"]["owed_delivered"] == 10
    assert rep["totals"]["accepted"] == 10


def test_checker_reports_a_lost_message_with_context():
    log = base_log()
    for i in range(1, 6):
        publish(log, i, 1.0 + i)
        if i != 3:
            receive(log, i, 1.05 + i)
    log["events"].append({"ev": "fault", "kind": "pause", "t": 3.5, "t_end": 4.2, "node": "n2", "long": False})
    rep = check(log)
    assert not rep["ok"]
    assert rep["violation_counts"] == {"LOST": 1}
    lost = rep["violations"]["LOST"][0]
    assert (lost["client"], lost["pub"], lost["topic"], lost["seq"]) == ("s1", "p1", T, 3)
    assert any("pause n2" in f for f in lost["faults_near"]), lost
    assert rep["lost_runs"][0]["seqs"] == [3, 3]


def test_checker_owes_nothing_before_the_subscription_was_effective_or_unaccepted():
    log = base_log()
    publish(log, 1, 0.8)                  # before the routes were confirmed: not owed
    publish(log, 2, 2.0, ok=False, rc=0x87)   # refused: not owed
    publish(log, 3, 2.5, ack=False)       # never acknowledged: not owed
    publish(log, 4, 3.0, rc=0x10)         # accepted with "no matching subscribers": owed
    rep = check(log)
    assert rep["violation_counts"] == {"LOST": 1}
    assert rep["violations"]["LOST"][0]["seq"] == 4
    assert rep["totals"]["accepted_no_matching_subscribers"] == 1
    assert rep["totals"]["rejected"] == 1 and rep["totals"]["unacknowledged"] == 1


def test_checker_session_reset_voids_what_was_published_before():
    log = base_log()
    publish(log, 1, 2.0)                  # lost with the session: not owed
    log["events"] += [
        {"ev": "fault", "kind": "kick", "t": 2.9, "client": "s1", "node": "n1", "done": True},
        {"ev": "connected", "t": 3.0, "client": "s1", "node": "n2", "session_present": False, "epoch": 1},
        {"ev": "session_reset", "t": 3.0, "client": "s1", "epoch": 1},
    ]
    publish(log, 2, 3.2)                  # after the reset, before the resubscription took effect
    log["events"].append({"ev": "sub_effective", "t": 3.5, "client": "s1", "epoch": 1, "filter": T, "qos": 2})
    publish(log, 3, 4.0)                  # owed
    rep = check(log)
    assert rep["violation_counts"] == {"LOST": 1}, format_report(rep)
    assert rep["violations"]["LOST"][0]["seq"] == 3


def test_checker_session_lost_unless_kicked():
    log = base_log()
    log["events"] += [
        {"ev": "fault", "kind": "kick", "t": 5.0, "client": "s1", "node": "n1", "done": True},
        {"ev": "connected", "t": 5.1, "client": "s1", "node": "n2", "session_present": False, "epoch": 1},
        {"ev": "session_reset", "t": 5.1, "client": "s1", "epoch": 1},
        {"ev": "sub_effective", "t": 5.3, "client": "s1", "epoch": 1, "filter": T, "qos": 2},
        {"ev": "connected", "t": 9.0, "client": "s1", "node": "n3", "session_present": False, "epoch": 2},
        {"ev": "session_reset", "t": 9.0, "client": "s1", "epoch": 2},
        {"ev": "sub_effective", "t": 9.3, "client": "s1", "epoch": 2, "filter": T, "qos": 2},
    ]
    rep = check(log)
    assert rep["violation_counts"] == {"SESSION_LOST": 1}, format_report(rep)
    lost = rep["violations"]["SESSION_LOST"][0]
    assert (lost["t_reset"], lost["previous_connect"]) == (9.0, 5.1)
    assert rep["totals"]["session_resets_after_kick"] == 1


def test_checker_crash_profile_exempts_a_window_around_kill_and_counts_it():
    def make(profile):
        log = base_log(profile)
        log["events"].append({"ev": "fault", "kind": "kill", "t": 10.0, "t_end": 12.0, "node": "n3"})
        publish(log, 1, 6.0)              # in the window (10 - 3 - 2 = 5)
        publish(log, 2, 16.5)             # in the window (12 + 5 = 17)
        publish(log, 3, 18.0)             # after it: owed
        publish(log, 4, 4.0)              # before it: owed
        return log
    rep = check(make("crash"))
    assert rep["violation_counts"] == {"LOST": 2}, format_report(rep)
    assert sorted(v["seq"] for v in rep["violations"]["LOST"]) == [3, 4]
    assert rep["totals"]["messages_exempted"] == 2
    assert rep["exemptions"]["missing_crash_window"] == 2
    strict = check(make("strict"))
    assert strict["violation_counts"] == {"LOST": 4}


def test_checker_crash_profile_exempts_subscribers_whose_session_was_on_the_killed_node():
    log = base_log("crash")
    log["events"].append({"ev": "fault", "kind": "kill", "t": 30.0, "t_end": 31.0, "node": "n1"})
    log["events"].append({"ev": "connected", "t": 40.0, "client": "s1", "node": "n2", "session_present": True,
                          "epoch": 0})
    publish(log, 1, 38.0)                 # outside the window, but s1 was on n1 until 40.0
    publish(log, 2, 50.0)                 # owed
    rep = check(log)
    assert rep["violation_counts"] == {"LOST": 1}
    assert rep["violations"]["LOST"][0]["seq"] == 2
    assert rep["exemptions"]["missing_session_on_killed_node"] == 1


def test_checker_qos2_duplicate_is_a_violation_qos1_duplicate_is_counted():
    log = base_log()
    log["clients"]["s2"] = {"kind": "sub", "version": 5, "filters": [[T, 1]]}
    log["events"].append({"ev": "sub_effective", "t": 1.0, "client": "s2", "epoch": 0, "filter": T, "qos": 1})
    publish(log, 1, 2.0)
    receive(log, 1, 2.1, mid=7)
    receive(log, 1, 2.2, mid=8)           # QoS 2 twice to one session: violation
    receive(log, 1, 2.1, client="s2", qos=1)
    receive(log, 1, 2.3, client="s2", qos=1, dup=True)   # QoS 1 twice: allowed, counted
    rep = check(log)
    assert rep["violation_counts"] == {"DUPLICATE": 1}, format_report(rep)
    d = rep["violations"]["DUPLICATE"][0]
    assert [r["packet_id"] for r in d["receipts"]] == [7, 8]
    assert rep["totals"]["qos1_duplicates"] == 1


def test_checker_qos2_duplicate_after_publisher_session_reset_is_exempt():
    log = base_log()
    publish(log, 1, 2.0)
    log["events"].append({"ev": "pub_reset", "t": 2.5, "pub": "p1", "inflight": [[T, 1]]})
    receive(log, 1, 2.1)
    receive(log, 1, 2.6)
    rep = check(log)
    assert rep["ok"], format_report(rep)
    assert rep["exemptions"]["qos2_duplicate_after_publisher_session_reset"] == 1


def test_checker_same_message_in_two_session_epochs_is_not_a_duplicate():
    log = base_log()
    publish(log, 1, 2.0)
    receive(log, 1, 2.1, epoch=0)
    receive(log, 1, 3.1, epoch=1)
    assert check(log)["ok"]


def test_checker_reorder_is_first_receipts_out_of_order_not_redelivery():
    log = base_log()
    for i in range(1, 6):
        publish(log, i, 1.0 + i)
    for seq, t in ((1, 2.1), (2, 3.1), (1, 3.2), (4, 5.1), (3, 5.2), (5, 6.1)):
        receive(log, seq, t, qos=1 if seq == 1 else 2)
    rep = check(log)
    assert rep["violation_counts"] == {"REORDERED": 1}, format_report(rep)
    r = rep["violations"]["REORDERED"][0]
    assert (r["seq"], r["after_seq"]) == (3, 4)


def test_checker_order_is_per_publisher_connection():
    # p1 publishes 1 and 2 on one connection, reconnects (to another node), publishes 3 and 4:
    # 3 arriving before 2 is allowed; 4 before 3 (same connection) is not.
    log = base_log()
    log["events"].append({"ev": "connected", "t": 0.6, "client": "p1", "node": "n1", "session_present": False,
                          "epoch": 0})
    publish(log, 1, 2.0)
    publish(log, 2, 3.0)
    log["events"].append({"ev": "connected", "t": 3.5, "client": "p1", "node": "n2", "session_present": True,
                          "epoch": 0})
    publish(log, 3, 4.0)
    publish(log, 4, 5.0)
    for seq, t in ((1, 2.1), (3, 4.1), (2, 4.2), (4, 5.1)):
        receive(log, seq, t)
    assert check(log)["ok"]
    log["recv"] = []
    for seq, t in ((1, 2.1), (2, 3.1), (4, 5.1), (3, 5.2)):
        receive(log, seq, t)
    rep = check(log)
    assert rep["violation_counts"] == {"REORDERED": 1}, format_report(rep)
    assert rep["violations"]["REORDERED"][0]["seq"] == 3


def test_checker_two_sessions_only_when_persistent():
    log = base_log()
    log["clients"]["s2"] = {"kind": "sub", "version": 5, "filters": [[T, 1]]}
    log["sessions"] = [
        {"t": 50.0, "nodes": {"n1": [["s1", False], ["s2", False]], "n2": [["s1", True], ["s2", True]],
                              "n3": [["other-client", True]]}},
        {"t": 51.0, "nodes": {"n1": [["s1", False]], "n2": [["s1", True], ["s2", True]]}},
    ]
    rep = check(log)
    assert rep["violation_counts"] == {"TWO_SESSIONS": 1}
    assert rep["violations"]["TWO_SESSIONS"][0]["client"] == "s1"
    assert any("s2" in w for w in rep["warnings"])


def test_checker_two_sessions_after_a_crash_fault_is_exempt_in_crash_profile_only():
    def make(profile):
        log = base_log(profile)
        log["events"] += [
            {"ev": "fault", "kind": "pause", "long": True, "t": 10.0, "t_end": 15.0, "node": "n1"},
            {"ev": "connected", "t": 15.5, "client": "s1", "node": "n2", "session_present": False, "epoch": 1},
            {"ev": "session_reset", "t": 15.5, "client": "s1", "epoch": 1},
        ]
        log["sessions"] = [{"t": 50.0, "nodes": {"n1": [["s1", False]], "n2": [["s1", True]]}}]
        return log
    rep = check(make("crash"))
    assert rep["ok"], format_report(rep)
    assert rep["exemptions"]["two_sessions_after_crash_fault"] == 1
    assert rep["exempted_two_sessions"][0]["client"] == "s1"
    assert rep["exemptions"]["session_reset_crash_window"] == 1
    assert check(make("strict"))["violation_counts"] == {"TWO_SESSIONS": 1, "SESSION_LOST": 1}
    log = make("crash")       # the session moved (session present) after the fault: a violation
    log["events"].append({"ev": "connected", "t": 30.0, "client": "s1", "node": "n3", "session_present": True,
                          "epoch": 1})
    assert check(log)["violation_counts"] == {"TWO_SESSIONS": 1}


def test_checker_misrouted_and_unknown_messages():
    log = base_log()
    publish(log, 1, 2.0, topic="chaos/x/t9")
    receive(log, 1, 2.1, topic="chaos/x/t9")   # s1 is not subscribed to t9
    receive(log, 7, 2.2)                        # never published
    rep = check(log)
    assert rep["violation_counts"] == {"MISROUTED": 1, "UNKNOWN_MESSAGE": 1}, format_report(rep)


def test_checker_topic_matching():
    assert chaos.topic_matches("a/+", "a/b") and not chaos.topic_matches("a/+", "a/b/c")
    assert chaos.topic_matches("a/#", "a/b/c") and chaos.topic_matches("a/b", "a/b")
    assert not chaos.topic_matches("a/b", "a/c")


# --- CI variant: a few seeds, loopback only, ~2.5 minutes on a 2-core machine -------------------

CI_RUNS = [
    # (seed, nodes, profile, seconds of faults)
    (101, 3, "strict", 30),
    (202, 4, "strict", 30),
    (303, 3, "crash", 30),
]
if os.environ.get("TIDEMQ_CHAOS_SEEDS"):
    # TIDEMQ_CHAOS_SEEDS="7,8,9": the same three configurations with other seeds
    CI_RUNS = [(int(seed),) + CI_RUNS[i % len(CI_RUNS)][1:]
               for i, seed in enumerate(os.environ["TIDEMQ_CHAOS_SEEDS"].split(","))]


@pytest.mark.parametrize("seed,nodes,profile,duration", CI_RUNS,
                         ids=["seed%d-%dnodes-%s" % (s, n, p) for s, n, p, _ in CI_RUNS])
def test_chaos_run_has_no_violation(seed, nodes, profile, duration):
    cfg = Config(seed=seed, duration=duration, nodes=nodes, profile=profile)
    try:
        rep = chaos.run_chaos(cfg)
    except chaos.SetupError as e:
        pytest.fail("chaos run seed %d could not be set up: %s" % (seed, e))
    finally:
        chaos._binary_copy_cleanup()
    text = format_report(rep, limit=8)
    print("seed %d: %s\n%s" % (seed, rep["replay"], text))
    assert not rep["harness_errors"], "harness errors (seed %d, replay: %s):\n%s" % (
        seed, rep["replay"], "\n".join(rep["harness_errors"][:3]))
    assert rep["ok"], "chaos seed %d found violations (replay: %s; node logs in %s)\n%s" % (
        seed, rep["replay"], rep["workdir"], text)
