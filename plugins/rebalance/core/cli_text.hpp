// The texts of `tidemq_ctl rebalance ...` and `tidemq_ctl eviction status` (docs/rebalance.md,
// "CLI output"), made from the admin API's answers: node-status, status, plan, the --wait progress
// line and endings, and the CLI's wording of the node's refusals. No I/O: tools/ctl asks the node
// and prints what these return.
//
// Blocks of lines come with their newlines; a single line comes without one (the caller prints it
// on stdout or stderr, or makes it the message of its error). std::nullopt means the answer was
// malformed (the CLI then fails with "unexpected answer from <path>").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

// ---- status ----

// `rebalance node-status`: "Rebalance disabled", or "Rebalance type: <process>", the field lines
// (a coordinator's when the body has `donors`, else an evacuation's or a donor's) and an empty
// line. Malformed: no string `status`, or enabled without `process`.
std::optional<std::string> node_status_text(const nlohmann::json& status);

// `rebalance status`: for each evacuation, purge, then rebalance coordinator, a line of 68 `-`,
// "Node <node>: <evacuation|purge|rebalance coordinator>" and its field lines; "" when nothing
// runs. Malformed: a section that is not an array of objects.
std::optional<std::string> global_status_text(const nlohmann::json& global);

// "Warning: no answer from [<nodes>]": the nodes `rebalance status` got no answer from.
std::string no_answer_warning(const std::vector<std::string>& nodes);

// "Eviction status: enabled" or "Eviction status: disabled". Malformed: any other `status`.
std::optional<std::string> eviction_status_line(const nlohmann::json& status);

// ---- plan (docs/rebalance.md, "Dry run") ----

// The plan: donors, recipients, a table with a row per node (columns padded to the widest cell,
// what it gives `-` or receives `+`), then the projected duration or "Nothing to balance: ...".
// Malformed: no `nodes` array.
std::optional<std::string> plan_text(const nlohmann::json& plan);

// "1h 2m 5s", "2m", "0s": the non-zero units of a duration in seconds.
std::string duration_text(long long seconds);

// ---- --wait ----

struct ProgressText {
  std::string line;  // "Rebalance state: <state>, progress <n>%, ETA <n> s" (ETA unknown)
  std::string key;   // state and progress: off a terminal a line is printed when this changes
};
ProgressText progress_text(const nlohmann::json& status);

// "Warning: <n> session(s) could not be migrated", when an evacuation's status counts failed
// sessions.
std::optional<std::string> failed_sessions_warning(const nlohmann::json& status);

// How a followed rebalance ended, from the coordinator's `last_result`.
struct WaitEnd {
  bool completed = false;
  std::string line;                    // "Rebalance completed" (stdout), else the error line (exit 1)
  std::optional<std::string> warning;  // "Warning: <reason>": a completion with a reason
};
WaitEnd rebalance_wait_end(const nlohmann::json& last_result);

// ---- the node's refusals in the CLI's words ----

// A refusal of a start or plan for a node list (the v4 texts of "Option validation messages":
// `unavailable nodes in ...`, `no available nodes list in ...`, `invalid node: ...`).
bool is_node_list_refusal(std::string_view message);

// "invalid --migrate-to, the evacuated node itself: ['n@h']"
std::string migrate_to_self_error(const NodeId& node);

// The error line of a refused `rebalance node-status NODE`. `is_member_down` (NODE is a cluster
// member that is not running) is asked only when the node called NODE invalid.
std::string node_status_refusal(std::string_view message, const std::function<bool()>& is_member_down);

}  // namespace tidemq::rebalance
