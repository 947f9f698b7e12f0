// tidemq_ctl rebalance start|stop|node-status|status|plan and tidemq_ctl eviction status:
// the emqx_ctl texts of docs/rebalance.md ("tidemq_ctl") byte for byte, with its exit codes (0 done, 1 an error line on
// stderr, 2 usage), through the node's v4 API:
//   start --evacuation ... → POST /api/v4/load_rebalance/{this node}/evacuation/start
//   start ...              → POST /api/v4/load_rebalance/{this node}/start
//   stop                   → the local evacuation if there is one (…/evacuation/stop), else the
//                            rebalance coordinated by this node (…/{this node}/stop)
//   node-status [NODE]     → GET /api/v4/load_rebalance/status | /api/v4/load_rebalance/{NODE}/status
//   status                 → GET /api/v4/load_rebalance/global_status
//   plan ...               → POST /api/v4/load_rebalance/{this node}/plan (a dry run, beyond EMQX)
//   eviction status        → GET /api/v4/node_eviction/status
// "This node" is the node behind --url: the `node` of GET /api/v4/stats.
//
// `start`/`plan` arguments are not CLI11 options: they are handed, in order, to the rebalance
// core's parse_start_args ("CLI start arguments": pairwise, unknown rest, lexicographic validation, exact texts),
// after the connection options (--url, --user, --password, -c, --timeout) and `--wait` are taken
// out. What is printed is worded by the rebalance core's cli_text (status, plan, --wait, refusals).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ctl.hpp"
#include "rebalance/core/cli_text.hpp"
#include "rebalance/core/erlang_format.hpp"
#include "rebalance/core/options.hpp"

namespace tidemq::ctl {

using nlohmann::json;
namespace rb = tidemq::rebalance;

namespace {

const std::string kApi = "/api/v4/load_rebalance";
constexpr auto kPollInterval = std::chrono::milliseconds(500);
constexpr auto kLostContactAfter = std::chrono::seconds(10);  // --wait: status unreadable this long ⇒ give up
constexpr auto kVanishedAfter = std::chrono::seconds(3);      // --wait: run no longer reported this long ⇒ give up

// The name of the node behind --url.
std::string this_node(Api& api) {
  auto doc = api.get("/api/v4/stats");
  const auto& data = doc["data"];
  if (!data.is_array() || data.empty() || !data[0].is_object() || !data[0].contains("node") ||
      !data[0]["node"].is_string())
    throw Failure("unexpected answer from /api/v4/stats");
  return data[0]["node"].get<std::string>();
}

std::vector<std::string> string_list(const json& data, const char* key, const char* what) {
  std::vector<std::string> out;
  if (!data.contains(key)) return out;
  if (!data[key].is_array()) throw Failure(fmt::format("unexpected answer from {}", what));
  for (const auto& n : data[key]) {
    if (!n.is_string()) throw Failure(fmt::format("unexpected answer from {}", what));
    out.push_back(n.get<std::string>());
  }
  return out;
}

// What option validation needs (`nodes` of a rebalance, `migrate_to` of an evacuation): every member, and as available
// the running ones whose eviction agent is disabled, i.e. that neither evacuate nor give in a
// rebalance (global_status says which; a node it could not reach is not available either). The
// node validates again when it starts; a refusal there for a node list is re-checked here so the
// CLI still prints its own text (docs/rebalance.md, "Option validation messages").
rb::ClusterView cluster_view(Api& api) {
  auto doc = api.get("/api/v4/cluster");
  const auto& data = doc["data"];
  if (!data.is_object() || !data.contains("running_nodes")) throw Failure("unexpected answer from /api/v4/cluster");
  rb::ClusterView view;
  view.available = string_list(data, "running_nodes", "/api/v4/cluster");
  view.members = view.available;
  for (auto& n : string_list(data, "stopped_nodes", "/api/v4/cluster")) view.members.push_back(std::move(n));

  const std::string path = kApi + "/global_status";
  auto global = api.get(path);
  if (!global.is_object()) throw Failure("unexpected answer from " + path);
  std::set<std::string> busy;
  for (const auto& n : string_list(global, "unreachable", path.c_str())) busy.insert(n);
  for (const char* kind : {"evacuations", "rebalances"}) {
    if (!global.contains(kind)) continue;
    if (!global[kind].is_array()) throw Failure("unexpected answer from " + path);
    for (const auto& entry : global[kind]) {
      if (!entry.is_object()) throw Failure("unexpected answer from " + path);
      if (std::string(kind) == "evacuations" && entry.contains("node") && entry["node"].is_string())
        busy.insert(entry["node"].get<std::string>());
      for (const auto& n : string_list(entry, "donors", path.c_str())) busy.insert(n);
    }
  }
  std::erase_if(view.available, [&busy](const std::string& n) { return busy.count(n) > 0; });
  return view;
}

json get_object(Api& api, const std::string& path) {
  auto doc = api.get(path);
  if (!doc.is_object()) throw Failure("unexpected answer from " + path);
  return doc;
}

// A text of rb's cli_text, which is nullopt when the answer from `path` was malformed.
std::string expect_text(std::optional<std::string> text, const std::string& path) {
  if (!text) throw Failure("unexpected answer from " + path);
  return std::move(*text);
}

// ---- start / plan arguments --------------------------------------------------------------------

constexpr std::string_view kWaitFlag = "--wait";

struct StartCommand {
  std::vector<std::string> args;   // for parse_start_args, in command-line order
  std::set<std::string> given;     // value options present (what goes into the request body)
  bool wait = false;
};

bool is_connection_option(const std::string& s) {
  return s == "--url" || s == "--user" || s == "--password" || s == "-c" || s == "--config" || s == "--timeout";
}

// Applies one connection option (is_connection_option) met among the start/plan arguments: the
// global options may follow the command. Checked as main.cpp's CLI11 options check them.
void connection_option(Context& ctx, const std::string& name, const std::string& value) {
  auto& c = ctx.connection;
  if (name == "--url") {
    c.url = value;
  } else if (name == "--user") {
    c.user = value;
    c.user_given = true;
  } else if (name == "--password") {
    c.password = value;
    c.password_given = true;
  } else if (name == "-c" || name == "--config") {
    if (!std::filesystem::is_regular_file(value)) throw CLI::ValidationError(name, "File does not exist: " + value);
    c.config_file = value;
    c.config_given = true;
  } else if (name == "--timeout") {
    double t = 0;
    try {
      std::size_t used = 0;
      t = std::stod(value, &used);
      if (used != value.size()) t = 0;
    } catch (const std::exception&) {
      t = 0;
    }
    if (!(t >= 0.1 && t <= 3600.0)) throw CLI::ValidationError(name, "Value " + value + " not in range 0.1 to 3600");
    c.timeout_seconds = t;
  }
}

// --url=X and friends.
std::optional<std::size_t> connection_option_with_value(const std::string& s) {
  const auto eq = s.find('=');
  if (!s.starts_with("--") || eq == std::string::npos || !is_connection_option(s.substr(0, eq))) return std::nullopt;
  return eq;
}

// Splits what CLI11 left over into the start arguments, --wait and connection options. Options
// pair with the next token ("CLI start arguments"), except with one of ours: `--nodes --url U` is `--nodes`
// without its value, then --url.
StartCommand scan_start_args(Context& ctx, const std::vector<std::string>& raw, bool plan) {
  auto ours = [plan](const std::string& s) {
    return is_connection_option(s) || connection_option_with_value(s) || (!plan && s == kWaitFlag);
  };
  StartCommand sc;
  for (std::size_t i = 0; i < raw.size();) {
    const std::string& t = raw[i];
    if (t == rebalance::kEvacuationFlag) {
      sc.args.push_back(t);
      i += 1;
    } else if (rebalance::start_option_takes_value(t) && i + 1 < raw.size() && !ours(raw[i + 1])) {
      sc.given.insert(t);
      sc.args.push_back(t);
      sc.args.push_back(raw[i + 1]);
      i += 2;
    } else if (!plan && t == kWaitFlag) {
      sc.wait = true;
      i += 1;
    } else if (is_connection_option(t) && i + 1 < raw.size()) {
      connection_option(ctx, t, raw[i + 1]);
      i += 2;
    } else if (auto eq = connection_option_with_value(t)) {
      connection_option(ctx, t.substr(0, *eq), t.substr(*eq + 1));
      i += 1;
    } else {
      sc.args.push_back(t);
      i += 1;
    }
  }
  return sc;
}

// `rebalance plan` takes the rebalance options only: --evacuation is an unknown argument there.
std::optional<std::string> plan_unknown_arguments(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size();) {
    if (rebalance::start_option_takes_value(args[i]) && i + 1 < args.size()) {
      i += 2;
      continue;
    }
    std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    return "unknown arguments: " + rb::erl_string_list(rest);
  }
  return std::nullopt;
}

// parse_start_args, asking the node for the cluster only when a node list must be checked. With
// an empty view every node list fails (with a node-list error), so an invalid_options error
// found without the cluster is the one the real view gives too (same lexicographic order).
rb::StartArgs parse_start(Api& api, const std::vector<std::string>& args, const std::string& prefix) {
  auto parsed = rb::parse_start_args(args, rb::ClusterView{});
  if (parsed) return *parsed;
  if (parsed.error().code == rb::RebalanceErrc::invalid_options) throw PlainFailure(prefix + parsed.error().message);
  parsed = rb::parse_start_args(args, cluster_view(api));
  if (!parsed) throw PlainFailure(prefix + parsed.error().message);
  return *parsed;
}

json evacuation_body(const rb::EvacuationOptions& o, const std::set<std::string>& given) {
  json b = json::object();
  if (given.count("--redirect-to") && o.server_reference) b["redirect_to"] = *o.server_reference;
  if (given.count("--conn-evict-rate")) b["conn_evict_rate"] = o.conn_evict_rate;
  if (given.count("--sess-evict-rate")) b["sess_evict_rate"] = o.sess_evict_rate;
  if (given.count("--wait-takeover")) b["wait_takeover"] = o.wait_takeover.count();
  if (given.count("--wait-health-check")) b["wait_health_check"] = o.wait_health_check.count();
  if (given.count("--migrate-to") && o.migrate_to) b["migrate_to"] = *o.migrate_to;
  if (given.count("--redirect-policy")) b["redirect_policy"] = o.redirect_least_loaded ? "least_loaded" : "static";
  return b;
}

json rebalance_body(const rb::RebalanceOptions& o, const std::set<std::string>& given) {
  json b = json::object();
  if (given.count("--nodes") && o.nodes) b["nodes"] = *o.nodes;
  if (given.count("--wait-health-check")) b["wait_health_check"] = o.wait_health_check.count();
  if (given.count("--conn-evict-rate")) b["conn_evict_rate"] = o.conn_evict_rate;
  if (given.count("--sess-evict-rate")) b["sess_evict_rate"] = o.sess_evict_rate;
  if (given.count("--abs-conn-threshold")) b["abs_conn_threshold"] = o.abs_conn_threshold;
  if (given.count("--rel-conn-threshold")) b["rel_conn_threshold"] = o.rel_conn_threshold;
  if (given.count("--abs-sess-threshold")) b["abs_sess_threshold"] = o.abs_sess_threshold;
  if (given.count("--rel-sess-threshold")) b["rel_sess_threshold"] = o.rel_sess_threshold;
  if (given.count("--wait-takeover")) b["wait_takeover"] = o.wait_takeover.count();
  if (given.count("--conn-evict-rpc-timeout")) b["conn_evict_rpc_timeout"] = o.conn_evict_rpc_timeout.count();
  if (given.count("--sess-evict-rpc-timeout")) b["sess_evict_rpc_timeout"] = o.sess_evict_rpc_timeout.count();
  return b;
}

// ---- --wait --------------------------------------------------------------------------------------

// One line of progress, rewritten in place on a terminal, printed when it changes otherwise.
class ProgressLine {
 public:
  ProgressLine() : tty_(isatty(STDOUT_FILENO) == 1) {}

  void show(const json& s) {
    auto [line, key] = rb::progress_text(s);
    if (tty_) {
      std::string padded = line;
      if (padded.size() < width_) padded.append(width_ - padded.size(), ' ');
      width_ = line.size();
      std::cout << "\r" << padded << std::flush;
      open_ = true;
    } else if (key != last_) {
      std::cout << line << "\n" << std::flush;
    }
    last_ = key;
  }

  void end() {
    if (open_) std::cout << "\n" << std::flush;
    open_ = false;
  }

 private:
  bool tty_;
  bool open_ = false;
  std::size_t width_ = 0;
  std::string last_;
};

// Polls the local status every 500 ms until `done` returns true (or throws). A status that cannot be
// read for 10 s in a row ends the wait with an error.
template <class Done>
void poll_status(Api& api, Done&& done) {
  ProgressLine progress;
  auto last_ok = std::chrono::steady_clock::now();
  for (;;) {
    json s;
    try {
      s = get_object(api, kApi + "/status");
      last_ok = std::chrono::steady_clock::now();
    } catch (const Failure& e) {
      if (std::chrono::steady_clock::now() - last_ok >= kLostContactAfter) {
        progress.end();
        throw Failure(std::string("lost contact with the node while waiting: ") + e.what());
      }
      std::this_thread::sleep_for(kPollInterval);
      continue;
    }
    if (done(s, progress)) return;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// After `rebalance start --evacuation --wait`: done when the state reaches prohibiting.
void wait_evacuation(Api& api) {
  poll_status(api, [](const json& s, ProgressLine& progress) {
    if (s.value("status", "") == "enabled" && s.value("process", "") == "evacuation") {
      progress.show(s);
      if (s.value("state", "") != "prohibiting") return false;
      progress.end();
      std::cout << "Rebalance(evacuation) completed\n" << std::flush;
      if (auto warning = rb::failed_sessions_warning(s)) std::cerr << *warning << "\n";
      return true;
    }
    progress.end();
    throw PlainFailure("Rebalance(evacuation) stopped before it completed");
  });
}

// After `rebalance start --wait`: done when the coordinator (this node) reports last_result.
void wait_rebalance(Api& api) {
  auto since = std::chrono::steady_clock::now();
  poll_status(api, [&since](const json& s, ProgressLine& progress) {
    if (s.value("status", "") == "enabled" && s.value("process", "") == "rebalance") {
      progress.show(s);
      since = std::chrono::steady_clock::now();
      return false;
    }
    if (s.contains("last_result") && s["last_result"].is_object()) {
      progress.end();
      const auto end = rb::rebalance_wait_end(s["last_result"]);
      if (!end.completed) throw PlainFailure(end.line);
      std::cout << end.line << "\n" << std::flush;
      if (end.warning) std::cerr << *end.warning << "\n";
      return true;
    }
    // Not (or no longer) visible here: a restarted coordinator keeps no result.
    if (std::chrono::steady_clock::now() - since < kVanishedAfter) return false;
    progress.end();
    throw PlainFailure("Rebalance aborted: the node no longer reports it (restarted?)");
  });
}

// ---- the commands ---------------------------------------------------------------------------------

// A node-list refusal of the node (the v4 texts of "Option validation messages") means the cluster changed between our
// check and the start: check again, so the CLI's own text (invalid --nodes, ...) is what prints.
[[noreturn]] void refused(Api& api, const StartCommand& sc, const std::string& prefix, const std::string& why) {
  // parse_start throws the CLI's text when the lists are now refused.
  if (rb::is_node_list_refusal(why)) parse_start(api, sc.args, prefix);
  throw PlainFailure(prefix + why);
}

void run_start(Api& api, const StartCommand& sc) {
  const std::string prefix = "Rebalance start error: ";
  rb::StartArgs start = parse_start(api, sc.args, prefix);
  const std::string node = this_node(api);
  if (start.mode == rb::StartMode::evacuation) {
    const auto& targets = start.evacuation.migrate_to;
    if (targets && std::find(targets->begin(), targets->end(), node) != targets->end())
      throw PlainFailure(prefix + rb::migrate_to_self_error(node));
    auto a = api.call_v4("POST", kApi + "/" + path_segment(node) + "/evacuation/start",
                     evacuation_body(start.evacuation, sc.given));
    if (a.refused) {
      if (*a.refused == "already_started") throw PlainFailure("Rebalance is already enabled");
      refused(api, sc, prefix, *a.refused);
    }
    std::cout << "Rebalance(evacuation) started\n" << std::flush;
    if (sc.wait) wait_evacuation(api);
    return;
  }
  auto a = api.call_v4("POST", kApi + "/" + path_segment(node) + "/start",
                   rebalance_body(start.rebalance, sc.given));
  if (a.refused) refused(api, sc, prefix, *a.refused);
  std::cout << "Rebalance started\n" << std::flush;
  if (sc.wait) wait_rebalance(api);
}

void run_plan(Api& api, const StartCommand& sc) {
  const std::string prefix = "Rebalance plan error: ";
  if (auto unknown = plan_unknown_arguments(sc.args)) throw PlainFailure(prefix + *unknown);
  rb::StartArgs start = parse_start(api, sc.args, prefix);
  const std::string node = this_node(api);
  auto a = api.call_v4("POST", kApi + "/" + path_segment(node) + "/plan",
                   rebalance_body(start.rebalance, sc.given));
  if (a.refused) refused(api, sc, prefix, *a.refused);
  const std::string what = kApi + "/{node}/plan";
  if (!a.doc.contains("data")) throw Failure("unexpected answer from " + what);
  std::cout << expect_text(rb::plan_text(a.doc["data"]), what);
}

// A local evacuation first, else the rebalance coordinated here.
void run_stop(Api& api) {
  const json s = get_object(api, kApi + "/status");
  const bool evacuation = s.value("status", "") == "enabled" && s.value("process", "") == "evacuation";
  const std::string node = this_node(api);
  auto a = api.call_v4("POST", kApi + "/" + path_segment(node) + (evacuation ? "/evacuation/stop" : "/stop"),
                   json::object());
  if (a.refused) {
    if (*a.refused == "not_started") throw PlainFailure("Rebalance is already disabled");
    throw PlainFailure("Rebalance stop error: " + *a.refused);
  }
  std::cout << (evacuation ? "Rebalance(evacuation) stopped\n" : "Rebalance stopped\n");
}

void run_node_status(Api& api, const std::optional<std::string>& node) {
  if (!node) {
    std::cout << expect_text(rb::node_status_text(get_object(api, kApi + "/status")), kApi + "/status");
    return;
  }
  const std::string path = kApi + "/" + path_segment(*node) + "/status";
  auto a = api.call_v4("GET", path, std::nullopt);
  if (a.refused) {
    throw PlainFailure(rb::node_status_refusal(*a.refused, [&api, &node] {
      const auto view = cluster_view(api);
      return view.is_member(*node) && !view.is_available(*node);
    }));
  }
  std::cout << expect_text(rb::node_status_text(a.doc), path);
}

const char* kStartHelp =
    "Evacuation of this node (the node behind --url):\n"
    "  rebalance start --evacuation [--wait-health-check S] [--redirect-to STR] [--conn-evict-rate N]\n"
    "                  [--migrate-to \"n1 n2\"] [--wait-takeover S] [--sess-evict-rate N] [--wait]\n"
    "Rebalance coordinated by this node:\n"
    "  rebalance start [--nodes \"n1,n2\"] [--wait-health-check S] [--conn-evict-rate N]\n"
    "                  [--conn-evict-rpc-timeout S] [--abs-conn-threshold N] [--rel-conn-threshold F]\n"
    "                  [--wait-takeover S] [--sess-evict-rate N] [--sess-evict-rpc-timeout S]\n"
    "                  [--abs-sess-threshold N] [--rel-sess-threshold F] [--wait]\n"
    "Options go in pairs (--option value); node lists split on commas and spaces. Prints\n"
    "\"Rebalance(evacuation) started\" / \"Rebalance started\", or \"Rebalance start error: <why>\"\n"
    "(\"Rebalance is already enabled\" for a second evacuation) on stderr with exit code 1.\n"
    "--wait: follow the run with a progress line (state, progress of the phase, ETA; rewritten in\n"
    "place on a terminal, one line per change otherwise) until it ends: an evacuation when it\n"
    "reaches prohibiting (exit 0), a rebalance with \"Rebalance completed\" (exit 0) or\n"
    "\"Rebalance aborted: <reason>\" / \"Rebalance stopped before it completed\" (exit 1).\n"
    "Ctrl-C stops waiting, not the run.\n";

const char* kPlanHelp =
    "A dry run of `rebalance start` with the same rebalance options (not --evacuation, not --wait):\n"
    "what a start would do now, changing nothing. Prints\n"
    "  Rebalance plan (a dry run: nothing was changed)\n"
    "  Donor nodes: ['n1@h','n2@h']\n"
    "  Recipient nodes: ['n3@h']\n"
    "  Node  Role       Connections  Sessions  Disconnected  Move connections  Move sessions\n"
    "  n1@h  donor             3000      3000           100             -1000            -33\n"
    "  n3@h  recipient            0         0             0             +2000            +66\n"
    "  Projected duration: 2m 5s (wait_health_check 1m, evicting_conns 3s, wait_takeover 1m,\n"
    "  evicting_sessions 2s)\n"
    "one row per node: its connections, sessions and disconnected sessions now, and what it is\n"
    "expected to give (-) or receive (+), assuming evicted clients reconnect evenly to the\n"
    "recipients; the projection adds the waits and the eviction phases at the given rates.\n"
    "\"Nothing to balance: the nodes are within the thresholds\" replaces the projection when a\n"
    "start would answer nothing_to_balance. Errors: \"Rebalance plan error: <why>\", exit 1.\n";

// `start` and `plan` collect their arguments raw (CLI11 would reject --nodes & co).
CLI::App* raw_args_command(CLI::App* group, const char* name, const char* description) {
  auto* cmd = group->add_subcommand(name, description);
  cmd->allow_extras();
  cmd->fallthrough(false);  // unknown options stay here, in order, with their values
  return cmd;
}

}  // namespace

void add_rebalance_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("rebalance", "node evacuation and cluster rebalance (start, stop, status)");
  group->require_subcommand(1);
  group->footer(
      "Exit codes: 0 done, 1 an error line on stderr (e.g. \"Rebalance is already disabled\"), 2 usage.\n"
      "Values are printed as EMQX's emqx_ctl prints them (Erlang terms).\n");

  auto* start = raw_args_command(group, "start", "evacuate this node (--evacuation) or rebalance the cluster from it");
  start->footer(kStartHelp);
  start->callback([&ctx, start] {
    auto sc = std::make_shared<StartCommand>(scan_start_args(ctx, start->remaining(), false));
    ctx.action = [sc](Api& api) { run_start(api, *sc); };
  });

  auto* plan = raw_args_command(group, "plan", "dry run of a rebalance: donors, recipients, what moves, how long");
  plan->footer(kPlanHelp);
  plan->callback([&ctx, plan] {
    auto sc = std::make_shared<StartCommand>(scan_start_args(ctx, plan->remaining(), true));
    ctx.action = [sc](Api& api) { run_plan(api, *sc); };
  });

  auto* stop = group->add_subcommand(
      "stop", "stop the evacuation of this node, else the rebalance it coordinates");
  stop->callback([&ctx] {
    ctx.action = [](Api& api) { run_stop(api); };
  });

  auto node = std::make_shared<std::string>();
  auto* node_status = group->add_subcommand("node-status", "evacuation/rebalance status of this node or of NODE");
  auto* node_opt = node_status->add_option("node", *node, "a cluster member, name@host");
  node_status->callback([&ctx, node, node_opt] {
    std::optional<std::string> which;
    if (node_opt->count() > 0) which = *node;
    ctx.action = [which](Api& api) { run_node_status(api, which); };
  });

  auto* status = group->add_subcommand("status", "every evacuation and rebalance of the cluster");
  status->callback([&ctx] {
    ctx.action = [](Api& api) {
      const std::string path = kApi + "/global_status";
      const json g = get_object(api, path);
      std::cout << expect_text(rb::global_status_text(g), path);
      const auto unreachable = string_list(g, "unreachable", path.c_str());
      if (!unreachable.empty()) {
        std::cout.flush();
        std::cerr << rb::no_answer_warning(unreachable) << "\n";
      }
    };
  });

  auto* eviction = app.add_subcommand("eviction", "the node's eviction agent");
  eviction->require_subcommand(1);
  auto* ev_status = eviction->add_subcommand("status", "\"Eviction status: enabled\" or \"Eviction status: disabled\"");
  ev_status->callback([&ctx] {
    ctx.action = [](Api& api) {
      const std::string path = "/api/v4/node_eviction/status";
      std::cout << expect_text(rb::eviction_status_line(get_object(api, path)), path) << "\n";
    };
  });
}

}  // namespace tidemq::ctl
