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
// out. Values are printed as Erlang's ~p prints them (node names as atoms, lists wrapped at 80
// columns like io_lib_pretty, floats in the shortest form).
#include <unistd.h>

#include <algorithm>
#include <array>
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
#include "rebalance/core/erlang_format.hpp"
#include "rebalance/core/options.hpp"

namespace tidemq::ctl {

using nlohmann::json;
namespace rb = tidemq::rebalance;

namespace {

const std::string kApi = "/api/v4/load_rebalance";
constexpr std::size_t kLineLength = 80;  // io_lib:format's ~p line length
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

// ---- Erlang ~p ---------------------------------------------------------------------------------

// A list printed after `column` characters of its line, as io_lib_pretty does for a list of
// atomic elements: on one line when it fits in 80 columns, else as many elements per line as fit,
// continuation lines aligned under the first element.
std::string erl_list(const std::vector<std::string>& items, std::size_t column) {
  std::string flat = "[";
  for (std::size_t i = 0; i < items.size(); ++i) flat += (i ? "," : "") + items[i];
  flat += "]";
  const std::size_t col = column + 1;  // io_lib_pretty's 1-based column of the '['
  if (items.empty() || flat.size() + col < kLineLength) return flat;
  const std::string indent(column + 1, ' ');
  std::string out = "[" + items[0];
  std::size_t at = col + 1 + items[0].size();
  for (std::size_t i = 1; i < items.size(); ++i) {
    const std::size_t len = 1 + items[i].size();
    if (at + len + 1 < kLineLength) {
      out += "," + items[i];
      at += len;
    } else {
      out += ",\n" + indent + items[i];
      at = col + 1 + items[i].size();
    }
  }
  return out + "]";
}

// A status value as EMQX holds it, printed with ~p after `column` characters: strings are atoms
// (node names, states), integers plain, floats shortest (504.0), arrays lists.
std::string erl(const json& v, std::size_t column = 0) {
  switch (v.type()) {
    case json::value_t::string: return rb::erl_atom(v.get_ref<const std::string&>());
    case json::value_t::number_float: return rb::erl_float(v.get<double>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return v.dump();
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::null: return "undefined";
    case json::value_t::array: {
      std::vector<std::string> items;
      for (const auto& e : v) items.push_back(erl(e));
      return erl_list(items, column);
    }
    default: return v.dump();
  }
}

// ---- status texts (docs/rebalance.md, "CLI output") -----------------------------------------------------------------------

struct Field {
  const char* key;
  const char* label;
  const char* unit;
};

// Evacuation, donor and purge bodies.
constexpr std::array<Field, 10> kFields = {{
    {"state", "Rebalance state", ""},
    {"coordinator_node", "Coordinator node", ""},
    {"connection_eviction_rate", "Connection eviction rate", " connections/second"},
    {"session_eviction_rate", "Session eviction rate", " sessions/second"},
    {"purge_rate", "Purge rate", " sessions/second"},
    {"connection_goal", "Connection goal", ""},
    {"session_goal", "Session goal", ""},
    {"disconnected_session_goal", "Disconnected session goal", ""},
    {"session_recipients", "Session recipient  nodes", ""},  // two spaces, as in EMQX 4.4
    {"recipients", "Recipient nodes", ""},
}};

// A rebalance coordinator.
constexpr std::array<Field, 10> kCoordinatorFields = {{
    {"state", "Rebalance state", ""},
    {"coordinator_node", "Coordinator node", ""},
    {"donors", "Donor nodes", ""},
    {"recipients", "Recipient nodes", ""},
    {"connection_eviction_rate", "Connection eviction rate", " connections/second"},
    {"session_eviction_rate", "Session eviction rate", " sessions/second"},
    {"connection_goal", "Connection goal", ""},
    {"disconnected_session_goal", "Disconnected session goal", ""},
    {"donor_conn_avg", "Current average donor node connection count", ""},
    {"donor_sess_avg", "Current average donor node disconnected session count", ""},
}};

template <std::size_t N>
void print_fields(std::string& out, const json& s, const std::array<Field, N>& fields) {
  for (const auto& f : fields) {
    if (!s.contains(f.key)) continue;
    const std::string head = std::string(f.label) + ": ";
    out += head + erl(s[f.key], head.size()) + f.unit + "\n";
  }
  if (s.contains("stats") && s["stats"].is_object()) {
    out += "Channel statistics:\n";
    std::vector<std::string> names;
    for (const auto& [k, _] : s["stats"].items()) names.push_back(k);
    std::sort(names.begin(), names.end());
    for (const auto& k : names) {
      const std::string head = "  " + rb::erl_atom(k) + ": ";
      out += head + erl(s["stats"][k], head.size()) + "\n";
    }
  }
}

bool is_coordinator_body(const json& s) { return s.contains("donors"); }

// node-status: "Rebalance disabled", or the type, the fields and one empty line.
std::string node_status_text(const json& s, const std::string& what) {
  if (!s.is_object() || !s.contains("status") || !s["status"].is_string())
    throw Failure("unexpected answer from " + what);
  if (s["status"] != "enabled") return "Rebalance disabled\n";
  if (!s.contains("process")) throw Failure("unexpected answer from " + what);
  std::string out = "Rebalance type: " + erl(s["process"]) + "\n";
  if (is_coordinator_body(s)) print_fields(out, s, kCoordinatorFields);  // a coordinator, not a donor
  else print_fields(out, s, kFields);
  return out + "\n";
}

std::string global_status_text(const json& g) {
  const std::string separator(68, '-');
  std::string out;
  auto section = [&](const char* key, const char* role, bool coordinator) {
    if (!g.contains(key)) return;
    if (!g[key].is_array()) throw Failure("unexpected answer from " + kApi + "/global_status");
    for (const auto& e : g[key]) {
      if (!e.is_object()) throw Failure("unexpected answer from " + kApi + "/global_status");
      out += separator + "\n";
      out += "Node " + erl(e.value("node", json(""))) + ": " + role + "\n";
      if (coordinator) print_fields(out, e, kCoordinatorFields);
      else print_fields(out, e, kFields);
    }
  };
  section("evacuations", "evacuation", false);
  section("purges", "purge", false);
  section("rebalances", "rebalance coordinator", true);
  return out;
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
    std::string line = "Rebalance state: " + text(s.value("state", json("unknown")));
    const std::string key = line + (s.contains("progress") ? s["progress"].dump() : "");
    if (s.contains("progress") && s["progress"].is_number())
      line += fmt::format(", progress {}%", s["progress"].dump());
    if (s.contains("eta_seconds")) {
      const auto& eta = s["eta_seconds"];
      line += eta.is_number() ? fmt::format(", ETA {} s", eta.dump()) : std::string(", ETA unknown");
    }
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
      if (s.contains("failed_sessions") && s["failed_sessions"].is_number() && s["failed_sessions"] != 0)
        std::cerr << fmt::format("Warning: {} session(s) could not be migrated\n", s["failed_sessions"].dump());
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
      const auto& r = s["last_result"];
      const std::string result = r.value("result", "");
      const std::string reason = r.contains("reason") && r["reason"].is_string() ? r["reason"].get<std::string>() : "";
      if (result == "completed") {
        std::cout << "Rebalance completed\n" << std::flush;
        if (!reason.empty()) std::cerr << "Warning: " << reason << "\n";
        return true;
      }
      if (result == "stopped") throw PlainFailure("Rebalance stopped before it completed");
      throw PlainFailure(reason.empty() ? "Rebalance aborted" : "Rebalance aborted: " + reason);
    }
    // Not (or no longer) visible here: a restarted coordinator keeps no result.
    if (std::chrono::steady_clock::now() - since < kVanishedAfter) return false;
    progress.end();
    throw PlainFailure("Rebalance aborted: the node no longer reports it (restarted?)");
  });
}

// ---- plan ----------------------------------------------------------------------------------------

std::string duration_text(long long s) {
  if (s <= 0) return "0s";
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600);
  if (s % 3600 >= 60) out += fmt::format("{}{}m", out.empty() ? "" : " ", s % 3600 / 60);
  if (s % 60) out += fmt::format("{}{}s", out.empty() ? "" : " ", s % 60);
  return out;
}

std::string plan_text(const json& p) {
  if (!p.is_object() || !p.contains("nodes") || !p["nodes"].is_array())
    throw Failure("unexpected answer from " + kApi + "/{node}/plan");
  auto number = [](const json& n, const char* key) -> long long {
    return n.contains(key) && n[key].is_number_integer() ? n[key].get<long long>() : 0;
  };
  auto move = [](long long n, bool donor) {
    return n == 0 ? std::string("0") : (donor ? "-" : "+") + std::to_string(n);
  };
  struct Row {
    std::array<std::string, 7> cells;
  };
  const std::array<std::string, 7> head = {"Node", "Role", "Connections", "Sessions", "Disconnected",
                                           "Move connections", "Move sessions"};
  std::vector<Row> rows;
  for (const auto& n : p["nodes"]) {
    const bool donor = n.value("role", "") == "donor";
    rows.push_back({{text(n.value("node", json(""))), donor ? "donor" : "recipient",
                     std::to_string(number(n, "connections")), std::to_string(number(n, "sessions")),
                     std::to_string(number(n, "disconnected_sessions")),
                     move(number(n, donor ? "connections_to_evict" : "connections_to_receive"), donor),
                     move(number(n, donor ? "sessions_to_migrate" : "sessions_to_receive"), donor)}});
  }
  std::array<std::size_t, 7> width{};
  for (std::size_t c = 0; c < 7; ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r.cells[c].size());
  }
  auto row_text = [&](const std::array<std::string, 7>& cells) {
    std::string line;
    for (std::size_t c = 0; c < 7; ++c) {
      if (c) line += "  ";
      if (c < 2) line += cells[c] + std::string(width[c] - cells[c].size(), ' ');
      else line += std::string(width[c] - cells[c].size(), ' ') + cells[c];
    }
    return line + "\n";
  };
  std::string out = "Rebalance plan (a dry run: nothing was changed)\n";
  out += "Donor nodes: " + erl(p.value("donors", json::array()), 13) + "\n";
  out += "Recipient nodes: " + erl(p.value("recipients", json::array()), 17) + "\n";
  out += row_text(head);
  for (const auto& r : rows) out += row_text(r.cells);
  if (p.value("nothing_to_balance", false)) return out + "Nothing to balance: the nodes are within the thresholds\n";
  const json secs = p.value("projected_seconds", json::object());
  auto sec = [&](const char* k) {
    return secs.contains(k) && secs[k].is_number_integer() ? secs[k].get<long long>() : 0;
  };
  out += fmt::format("Projected duration: {} (wait_health_check {}, evicting_conns {}, wait_takeover {}, "
                     "evicting_sessions {})\n",
                     duration_text(sec("total")), duration_text(sec("wait_health_check")),
                     duration_text(sec("evicting_conns")), duration_text(sec("wait_takeover")),
                     duration_text(sec("evicting_sessions")));
  return out;
}

// ---- the commands ---------------------------------------------------------------------------------

// A node-list refusal of the node (the v4 texts of "Option validation messages") means the cluster changed between our
// check and the start: check again, so the CLI's own text (invalid --nodes, ...) is what prints.
[[noreturn]] void refused(Api& api, const StartCommand& sc, const std::string& prefix, const std::string& why) {
  for (const char* node_list_error : {"unavailable nodes in ", "no available nodes list in ", "invalid node: "}) {
    if (why.starts_with(node_list_error)) {
      parse_start(api, sc.args, prefix);  // throws the CLI text when the lists are now refused
      break;
    }
  }
  throw PlainFailure(prefix + why);
}

void run_start(Api& api, const StartCommand& sc) {
  const std::string prefix = "Rebalance start error: ";
  rb::StartArgs start = parse_start(api, sc.args, prefix);
  const std::string node = this_node(api);
  if (start.mode == rb::StartMode::evacuation) {
    const auto& targets = start.evacuation.migrate_to;
    if (targets && std::find(targets->begin(), targets->end(), node) != targets->end())
      throw PlainFailure(prefix + "invalid --migrate-to, the evacuated node itself: " + rb::erl_atom_list({node}));
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
  if (!a.doc.contains("data")) throw Failure("unexpected answer from " + kApi + "/{node}/plan");
  std::cout << plan_text(a.doc["data"]);
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
    std::cout << node_status_text(get_object(api, kApi + "/status"), kApi + "/status");
    return;
  }
  const std::string path = kApi + "/" + path_segment(*node) + "/status";
  auto a = api.call_v4("GET", path, std::nullopt);
  if (a.refused) {
    const std::string& m = *a.refused;
    if (m.starts_with("invalid node")) {
      // A member that is down is known but not running: EMQX's RPC says nodedown.
      auto view = cluster_view(api);
      if (view.is_member(*node) && !view.is_available(*node))
        throw PlainFailure("Error detecting rebalance status: {badrpc,nodedown}");
      throw PlainFailure("Node status error: invalid node");
    }
    if (m.starts_with("Error communicating with node"))
      throw PlainFailure(std::string("Error detecting rebalance status: ") +
                         (m.find("no answer in time") != std::string::npos ? "{badrpc,timeout}" : "{badrpc,nodedown}"));
    throw PlainFailure("Node status error: " + m);
  }
  std::cout << node_status_text(a.doc, path);
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
      const json g = get_object(api, kApi + "/global_status");
      std::cout << global_status_text(g);
      const auto unreachable = string_list(g, "unreachable", (kApi + "/global_status").c_str());
      if (!unreachable.empty()) {
        std::vector<std::string> atoms;
        for (const auto& n : unreachable) atoms.push_back(rb::erl_atom(n));
        std::cout.flush();
        std::cerr << "Warning: no answer from " << erl_list(atoms, 24) << "\n";
      }
    };
  });

  auto* eviction = app.add_subcommand("eviction", "the node's eviction agent");
  eviction->require_subcommand(1);
  auto* ev_status = eviction->add_subcommand("status", "\"Eviction status: enabled\" or \"Eviction status: disabled\"");
  ev_status->callback([&ctx] {
    ctx.action = [](Api& api) {
      const std::string path = "/api/v4/node_eviction/status";
      const json s = get_object(api, path);
      const std::string st = s.contains("status") && s["status"].is_string() ? s["status"].get<std::string>() : "";
      if (st != "enabled" && st != "disabled") throw Failure("unexpected answer from " + path);
      std::cout << "Eviction status: " << st << "\n";
    };
  });
}

}  // namespace tidemq::ctl
