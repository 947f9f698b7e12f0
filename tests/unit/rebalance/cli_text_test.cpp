#include <catch2/catch.hpp>

#include <string>

#include "rebalance/core/cli_text.hpp"

using namespace tidemq::rebalance;
using nlohmann::json;

namespace {

// docs/rebalance.md, "CLI output": an evacuation as the node reports it, and its field lines.
const json kEvacuation = json::parse(R"({
  "status": "enabled", "process": "evacuation", "state": "waiting_takeover",
  "connection_eviction_rate": 30, "session_eviction_rate": 30, "connection_goal": 0, "session_goal": 0,
  "session_recipients": ["tidemq2@127.0.0.2"],
  "stats": {"initial_connected": 233, "current_connected": 0, "initial_sessions": 247, "current_sessions": 247},
  "progress": 40, "eta_seconds": 36})");

const std::string kEvacuationLines =
    "Rebalance state: waiting_takeover\n"
    "Connection eviction rate: 30 connections/second\n"
    "Session eviction rate: 30 sessions/second\n"
    "Connection goal: 0\n"
    "Session goal: 0\n"
    "Session recipient  nodes: ['tidemq2@127.0.0.2']\n"
    "Channel statistics:\n"
    "  current_connected: 0\n"
    "  current_sessions: 247\n"
    "  initial_connected: 233\n"
    "  initial_sessions: 247\n";

const json kCoordinator = json::parse(R"({
  "state": "evicting_conns", "coordinator_node": "n1@h", "connection_eviction_rate": 25,
  "donors": ["n1@h", "n2@h"], "recipients": ["n3@h"], "connection_goal": 2340.0,
  "disconnected_session_goal": 1000.0, "donor_conn_avg": 333.3333333333333, "donor_sess_avg": 0.00001,
  "progress": 10, "eta_seconds": 12})");

const std::string kCoordinatorLines =
    "Rebalance state: evicting_conns\n"
    "Coordinator node: n1@h\n"
    "Donor nodes: [n1@h,n2@h]\n"
    "Recipient nodes: [n3@h]\n"
    "Connection eviction rate: 25 connections/second\n"
    "Connection goal: 2340.0\n"
    "Disconnected session goal: 1.0e3\n"
    "Current average donor node connection count: 333.3333333333333\n"
    "Current average donor node disconnected session count: 1.0e-5\n";

const std::string kDashes(68, '-');

json with(json doc, const json& changes) {
  doc.update(changes);
  return doc;
}

}  // namespace

TEST_CASE("cli_text: node-status of an evacuation, a donor and a coordinator", "[unit][rebalance][cli_text]") {
  CHECK(node_status_text(kEvacuation) == "Rebalance type: evacuation\n" + kEvacuationLines + "\n");

  // A donor: no donors of its own, so an evacuation's field lines; the first ~p forms of floats.
  const json donor = json::parse(R"({
    "status": "enabled", "process": "rebalance", "state": "evicting_sessions", "coordinator_node": "c@h",
    "connection_eviction_rate": 500, "session_eviction_rate": 7, "recipients": ["r1@h", "tidemq-2@h"],
    "connection_goal": 12000.0, "disconnected_session_goal": 0.5,
    "stats": {"initial_sessions": 9, "current_sessions": 4, "current_disconnected_sessions": 1},
    "progress": 55, "eta_seconds": null, "failed_sessions": 0})");
  CHECK(node_status_text(donor) ==
        "Rebalance type: rebalance\n"
        "Rebalance state: evicting_sessions\n"
        "Coordinator node: c@h\n"
        "Connection eviction rate: 500 connections/second\n"
        "Session eviction rate: 7 sessions/second\n"
        "Connection goal: 1.2e4\n"
        "Disconnected session goal: 0.5\n"
        "Recipient nodes: [r1@h,'tidemq-2@h']\n"
        "Channel statistics:\n"
        "  current_disconnected_sessions: 1\n"
        "  current_sessions: 4\n"
        "  initial_sessions: 9\n"
        "\n");

  // A body with donors is a coordinator's: its own field lines, not a donor's.
  CHECK(node_status_text(with(kCoordinator, {{"status", "enabled"}, {"process", "rebalance"}})) ==
        "Rebalance type: rebalance\n" + kCoordinatorLines + "\n");
}

TEST_CASE("cli_text: node-status prints only the fields present", "[unit][rebalance][cli_text]") {
  const json bare = {{"status", "enabled"}, {"process", "evacuation"}, {"state", "evicting_conns"}};
  CHECK(node_status_text(bare) == "Rebalance type: evacuation\nRebalance state: evicting_conns\n\n");
  CHECK(node_status_text(with(bare, {{"purge_rate", 5}})) ==
        "Rebalance type: evacuation\nRebalance state: evicting_conns\nPurge rate: 5 sessions/second\n\n");
  CHECK(node_status_text(with(bare, {{"stats", json::object()}})) ==
        "Rebalance type: evacuation\nRebalance state: evicting_conns\nChannel statistics:\n\n");
  CHECK(node_status_text(with(bare, {{"stats", 3}})) ==
        "Rebalance type: evacuation\nRebalance state: evicting_conns\n\n");
}

TEST_CASE("cli_text: node-status with nothing running, and malformed answers", "[unit][rebalance][cli_text]") {
  CHECK(node_status_text({{"status", "disabled"}}) == "Rebalance disabled\n");
  CHECK(node_status_text(json::parse(R"({"status":"disabled","last_result":{"result":"aborted","reason":"x"}})")) ==
        "Rebalance disabled\n");
  CHECK(node_status_text({{"status", "enabled"}}) == std::nullopt);  // no process
  CHECK(node_status_text({{"status", 1}}) == std::nullopt);
  CHECK(node_status_text(json::object()) == std::nullopt);
  CHECK(node_status_text(json::array()) == std::nullopt);
}

TEST_CASE("cli_text: status of the cluster", "[unit][rebalance][cli_text]") {
  json evacuation = kEvacuation;
  evacuation.erase("status");
  evacuation.erase("process");
  evacuation["node"] = "emqx1@127.0.0.1";
  const json global = {{"rebalances", json::array({with(kCoordinator, {{"node", "tidemq1@127.0.0.1"}})})},
                       {"evacuations", json::array({evacuation})}};
  CHECK(global_status_text(global) == kDashes + "\nNode 'emqx1@127.0.0.1': evacuation\n" + kEvacuationLines +
                                          kDashes + "\nNode 'tidemq1@127.0.0.1': rebalance coordinator\n" +
                                          kCoordinatorLines);

  // Purges come between evacuations and rebalances; a rebalance entry takes the coordinator's
  // field lines even without donors.
  const json ordered = {{"rebalances", json::array({{{"node", "c@h"}, {"state", "wait_takeover"}}})},
                        {"purges", json::array({{{"node", "p@h"}, {"purge_rate", 9}}})},
                        {"evacuations", json::array({{{"node", "e@h"}, {"session_goal", 0}}})}};
  CHECK(global_status_text(ordered) ==
        kDashes + "\nNode e@h: evacuation\nSession goal: 0\n" +  //
            kDashes + "\nNode p@h: purge\nPurge rate: 9 sessions/second\n" +  //
            kDashes + "\nNode c@h: rebalance coordinator\nRebalance state: wait_takeover\n");

  CHECK(global_status_text({{"rebalances", json::array()}, {"evacuations", json::array()}}) == "");
  CHECK(global_status_text(json::object()) == "");
  CHECK(global_status_text({{"evacuations", 1}}) == std::nullopt);
  CHECK(global_status_text({{"rebalances", json::array({1})}}) == std::nullopt);
}

TEST_CASE("cli_text: the warning about nodes that did not answer", "[unit][rebalance][cli_text]") {
  CHECK(no_answer_warning({"tidemq3@127.0.0.3"}) == "Warning: no answer from ['tidemq3@127.0.0.3']");
  CHECK(no_answer_warning({"a@h", "b@h"}) == "Warning: no answer from [a@h,b@h]");
  // Wrapped under the first element, 24 columns in.
  CHECK(no_answer_warning({"tidemq1@127.0.0.1", "tidemq2@127.0.0.2", "tidemq3@127.0.0.3"}) ==
        "Warning: no answer from ['tidemq1@127.0.0.1','tidemq2@127.0.0.2',\n"
        "                         'tidemq3@127.0.0.3']");
}

TEST_CASE("cli_text: eviction status", "[unit][rebalance][cli_text]") {
  CHECK(eviction_status_line({{"status", "enabled"}, {"stats", {{"connections", 3}}}}) == "Eviction status: enabled");
  CHECK(eviction_status_line({{"status", "disabled"}}) == "Eviction status: disabled");
  CHECK(eviction_status_line({{"status", "on"}}) == std::nullopt);
  CHECK(eviction_status_line({{"nope", 1}}) == std::nullopt);
}

TEST_CASE("cli_text: durations", "[unit][rebalance][cli_text]") {
  CHECK(duration_text(0) == "0s");
  CHECK(duration_text(-5) == "0s");
  CHECK(duration_text(5) == "5s");
  CHECK(duration_text(60) == "1m");
  CHECK(duration_text(125) == "2m 5s");
  CHECK(duration_text(3600) == "1h");
  CHECK(duration_text(3605) == "1h 5s");
  CHECK(duration_text(3785) == "1h 3m 5s");
  CHECK(duration_text(90000) == "25h");
}

TEST_CASE("cli_text: the plan", "[unit][rebalance][cli_text]") {
  // docs/rebalance.md, "CLI output"
  json plan = json::parse(R"({"nothing_to_balance": false,
    "donors": ["tidemq1@127.0.0.1", "tidemq2@127.0.0.2"], "recipients": ["tidemq3@127.0.0.3"],
    "nodes": [{"node": "tidemq1@127.0.0.1", "role": "donor", "connections": 3000, "sessions": 3100,
               "disconnected_sessions": 100, "connections_to_evict": 1000, "sessions_to_migrate": 33},
              {"node": "tidemq2@127.0.0.2", "role": "donor", "connections": 3000, "sessions": 3000,
               "disconnected_sessions": 0, "connections_to_evict": 1000, "sessions_to_migrate": 0},
              {"node": "tidemq3@127.0.0.3", "role": "recipient", "connections": 0, "sessions": 0,
               "disconnected_sessions": 0, "connections_to_receive": 2000, "sessions_to_receive": 33}],
    "projected_seconds": {"wait_health_check": 60, "evicting_conns": 2, "wait_takeover": 60,
                          "evicting_sessions": 1, "total": 123}})");
  const std::string head =
      "Rebalance plan (a dry run: nothing was changed)\n"
      "Donor nodes: ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']\n"
      "Recipient nodes: ['tidemq3@127.0.0.3']\n"
      "Node               Role       Connections  Sessions  Disconnected  Move connections  Move sessions\n"
      "tidemq1@127.0.0.1  donor             3000      3100           100             -1000            -33\n"
      "tidemq2@127.0.0.2  donor             3000      3000             0             -1000              0\n"
      "tidemq3@127.0.0.3  recipient            0         0             0             +2000            +33\n";
  CHECK(plan_text(plan) == head +
                               "Projected duration: 2m 3s (wait_health_check 1m, evicting_conns 2s, wait_takeover 1m, "
                               "evicting_sessions 1s)\n");
  plan["nothing_to_balance"] = true;
  CHECK(plan_text(plan) == head + "Nothing to balance: the nodes are within the thresholds\n");
}

TEST_CASE("cli_text: a plan with missing or odd values", "[unit][rebalance][cli_text]") {
  // Columns are as wide as their headings at least; missing counts are 0; no projection is 0s.
  CHECK(plan_text({{"nodes", json::array({{{"node", "n@h"}}})}}) ==
        "Rebalance plan (a dry run: nothing was changed)\n"
        "Donor nodes: []\n"
        "Recipient nodes: []\n"
        "Node  Role       Connections  Sessions  Disconnected  Move connections  Move sessions\n"
        "n@h   recipient            0         0             0                 0              0\n"
        "Projected duration: 0s (wait_health_check 0s, evicting_conns 0s, wait_takeover 0s, evicting_sessions 0s)\n");
  const std::string table =
      "Node       Role       Connections  Sessions  Disconnected  Move connections  Move sessions\n"
      "undefined  recipient            0         0             0                 0              0\n";
  const json odd = {{"nodes", json::array({{{"node", nullptr}, {"connections", "x"}}})}, {"nothing_to_balance", true}};
  CHECK(plan_text(odd) ==
        "Rebalance plan (a dry run: nothing was changed)\nDonor nodes: []\nRecipient nodes: []\n" + table +
            "Nothing to balance: the nodes are within the thresholds\n");
  CHECK(plan_text(json::object()) == std::nullopt);
  CHECK(plan_text({{"nodes", 1}}) == std::nullopt);
  CHECK(plan_text(json::array()) == std::nullopt);
}

TEST_CASE("cli_text: the --wait progress line", "[unit][rebalance][cli_text]") {
  auto p = progress_text({{"state", "evicting_conns"}, {"progress", 50}, {"eta_seconds", 1}});
  CHECK(p.line == "Rebalance state: evicting_conns, progress 50%, ETA 1 s");
  CHECK(p.key == "Rebalance state: evicting_conns50");
  p = progress_text({{"state", "waiting_takeover"}, {"progress", 0}, {"eta_seconds", nullptr}});
  CHECK(p.line == "Rebalance state: waiting_takeover, progress 0%, ETA unknown");
  // The ETA alone does not make a new line.
  CHECK(progress_text({{"state", "evicting_conns"}, {"progress", 50}, {"eta_seconds", 7}}).key ==
        progress_text({{"state", "evicting_conns"}, {"progress", 50}, {"eta_seconds", 1}}).key);
  CHECK(progress_text(json::object()).line == "Rebalance state: unknown");
  CHECK(progress_text({{"state", nullptr}, {"progress", "x"}}).line == "Rebalance state: undefined");
}

TEST_CASE("cli_text: how a followed run ends", "[unit][rebalance][cli_text]") {
  CHECK(failed_sessions_warning({{"failed_sessions", 2}}) == "Warning: 2 session(s) could not be migrated");
  CHECK(failed_sessions_warning({{"failed_sessions", 0}}) == std::nullopt);
  CHECK(failed_sessions_warning({{"failed_sessions", "2"}}) == std::nullopt);
  CHECK(failed_sessions_warning(json::object()) == std::nullopt);

  auto end = rebalance_wait_end({{"result", "completed"}, {"reason", nullptr}});
  CHECK(end.completed);
  CHECK(end.line == "Rebalance completed");
  CHECK(end.warning == std::nullopt);
  end = rebalance_wait_end({{"result", "completed"}, {"reason", "3 sessions stuck"}});
  CHECK(end.completed);
  CHECK(end.warning == "Warning: 3 sessions stuck");
  end = rebalance_wait_end({{"result", "stopped"}, {"reason", "x"}});
  CHECK_FALSE(end.completed);
  CHECK(end.line == "Rebalance stopped before it completed");
  end = rebalance_wait_end({{"result", "aborted"}, {"reason", "node 'tidemq2@127.0.0.2' is down"}});
  CHECK_FALSE(end.completed);
  CHECK(end.line == "Rebalance aborted: node 'tidemq2@127.0.0.2' is down");
  CHECK(rebalance_wait_end({{"result", "aborted"}, {"reason", nullptr}}).line == "Rebalance aborted");
  CHECK(rebalance_wait_end(json::object()).line == "Rebalance aborted");
}

TEST_CASE("cli_text: refusals of a start, a plan and a node-status", "[unit][rebalance][cli_text]") {
  CHECK(is_node_list_refusal("unavailable nodes in nodes: ['n@h']"));
  CHECK(is_node_list_refusal("no available nodes list in migrate_to: []"));
  CHECK(is_node_list_refusal("invalid node: x@h"));
  CHECK_FALSE(is_node_list_refusal("already_started"));
  CHECK_FALSE(is_node_list_refusal("invalid conn_evict_rate value"));
  CHECK(migrate_to_self_error("tidemq1@127.0.0.1") ==
        "invalid --migrate-to, the evacuated node itself: ['tidemq1@127.0.0.1']");

  int asked = 0;
  auto down = [&asked] { return ++asked, true; };
  auto up = [&asked] { return ++asked, false; };
  CHECK(node_status_refusal("invalid node: nobody@h", up) == "Node status error: invalid node");
  CHECK(node_status_refusal("invalid node: tidemq3@127.0.0.3", down) ==
        "Error detecting rebalance status: {badrpc,nodedown}");
  CHECK(asked == 2);
  CHECK(node_status_refusal("Error communicating with node 'n@h': node n@h is down", down) ==
        "Error detecting rebalance status: {badrpc,nodedown}");
  CHECK(node_status_refusal("Error communicating with node 'n@h': no answer in time", down) ==
        "Error detecting rebalance status: {badrpc,timeout}");
  CHECK(node_status_refusal("something else", down) == "Node status error: something else");
  CHECK(asked == 2);  // the cluster is asked only about an invalid node
}
