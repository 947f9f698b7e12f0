#include "rebalance/core/cli_text.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "rebalance/core/erlang_format.hpp"

namespace tidemq::rebalance {

using nlohmann::json;

namespace {

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

// The field lines of a status body (those of `fields` present, in table order), then its channel
// statistics sorted by name.
void append_fields(std::string& out, const json& s, const std::array<Field, 10>& fields) {
  for (const auto& f : fields) {
    if (!s.contains(f.key)) continue;
    const std::string head = std::string(f.label) + ": ";
    out += head + erl_status_value(s[f.key], head.size()) + f.unit + "\n";
  }
  if (s.contains("stats") && s["stats"].is_object()) {
    out += "Channel statistics:\n";
    std::vector<std::string> names;
    for (const auto& [k, _] : s["stats"].items()) names.push_back(k);
    std::sort(names.begin(), names.end());
    for (const auto& k : names) {
      const std::string head = "  " + erl_atom(k) + ": ";
      out += head + erl_status_value(s["stats"][k], head.size()) + "\n";
    }
  }
}

// A value as plain text: strings unquoted, null `undefined`, anything else as JSON.
std::string plain(const json& v) {
  if (v.is_null()) return "undefined";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

std::optional<std::string> node_status_text(const json& s) {
  if (!s.is_object() || !s.contains("status") || !s["status"].is_string()) return std::nullopt;
  if (s["status"] != "enabled") return "Rebalance disabled\n";
  if (!s.contains("process")) return std::nullopt;
  std::string out = "Rebalance type: " + erl_status_value(s["process"]) + "\n";
  append_fields(out, s, s.contains("donors") ? kCoordinatorFields : kFields);  // a coordinator, not a donor
  return out + "\n";
}

std::optional<std::string> global_status_text(const json& g) {
  const std::string separator(68, '-');
  std::string out;
  struct Section {
    const char* key;
    const char* role;
    const std::array<Field, 10>& fields;
  };
  for (const Section& section : {Section{"evacuations", "evacuation", kFields}, Section{"purges", "purge", kFields},
                                 Section{"rebalances", "rebalance coordinator", kCoordinatorFields}}) {
    if (!g.contains(section.key)) continue;
    if (!g[section.key].is_array()) return std::nullopt;
    for (const auto& e : g[section.key]) {
      if (!e.is_object()) return std::nullopt;
      out += separator + "\n";
      out += "Node " + erl_status_value(e.value("node", json(""))) + ": " + section.role + "\n";
      append_fields(out, e, section.fields);
    }
  }
  return out;
}

std::string no_answer_warning(const std::vector<std::string>& nodes) {
  const std::string head = "Warning: no answer from ";
  std::vector<std::string> atoms;
  for (const auto& n : nodes) atoms.push_back(erl_atom(n));
  return head + erl_wrapped_list(atoms, head.size());
}

std::optional<std::string> eviction_status_line(const json& s) {
  const std::string st = s.contains("status") && s["status"].is_string() ? s["status"].get<std::string>() : "";
  if (st != "enabled" && st != "disabled") return std::nullopt;
  return "Eviction status: " + st;
}

std::string duration_text(long long s) {
  if (s <= 0) return "0s";
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600);
  if (s % 3600 >= 60) out += fmt::format("{}{}m", out.empty() ? "" : " ", s % 3600 / 60);
  if (s % 60) out += fmt::format("{}{}s", out.empty() ? "" : " ", s % 60);
  return out;
}

std::optional<std::string> plan_text(const json& p) {
  if (!p.is_object() || !p.contains("nodes") || !p["nodes"].is_array()) return std::nullopt;
  auto number = [](const json& n, const char* key) -> long long {
    return n.contains(key) && n[key].is_number_integer() ? n[key].get<long long>() : 0;
  };
  auto move = [](long long n, bool donor) {
    return n == 0 ? std::string("0") : (donor ? "-" : "+") + std::to_string(n);
  };
  using Cells = std::array<std::string, 7>;
  const Cells head = {"Node", "Role", "Connections", "Sessions", "Disconnected", "Move connections", "Move sessions"};
  std::vector<Cells> rows;
  for (const auto& n : p["nodes"]) {
    const bool donor = n.value("role", "") == "donor";
    rows.push_back({plain(n.value("node", json(""))), donor ? "donor" : "recipient",
                    std::to_string(number(n, "connections")), std::to_string(number(n, "sessions")),
                    std::to_string(number(n, "disconnected_sessions")),
                    move(number(n, donor ? "connections_to_evict" : "connections_to_receive"), donor),
                    move(number(n, donor ? "sessions_to_migrate" : "sessions_to_receive"), donor)});
  }
  std::array<std::size_t, 7> width{};
  for (std::size_t c = 0; c < 7; ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto row_text = [&](const Cells& cells) {
    std::string line;
    for (std::size_t c = 0; c < 7; ++c) {
      if (c) line += "  ";
      if (c < 2) line += cells[c] + std::string(width[c] - cells[c].size(), ' ');  // text left, numbers right
      else line += std::string(width[c] - cells[c].size(), ' ') + cells[c];
    }
    return line + "\n";
  };
  std::string out = "Rebalance plan (a dry run: nothing was changed)\n";
  out += "Donor nodes: " + erl_status_value(p.value("donors", json::array()), 13) + "\n";
  out += "Recipient nodes: " + erl_status_value(p.value("recipients", json::array()), 17) + "\n";
  out += row_text(head);
  for (const auto& r : rows) out += row_text(r);
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

ProgressText progress_text(const json& s) {
  ProgressText t;
  t.line = "Rebalance state: " + plain(s.value("state", json("unknown")));
  t.key = t.line + (s.contains("progress") ? s["progress"].dump() : "");
  if (s.contains("progress") && s["progress"].is_number())
    t.line += fmt::format(", progress {}%", s["progress"].dump());
  if (s.contains("eta_seconds")) {
    const auto& eta = s["eta_seconds"];
    t.line += eta.is_number() ? fmt::format(", ETA {} s", eta.dump()) : std::string(", ETA unknown");
  }
  return t;
}

std::optional<std::string> failed_sessions_warning(const json& s) {
  if (!s.contains("failed_sessions") || !s["failed_sessions"].is_number() || s["failed_sessions"] == 0)
    return std::nullopt;
  return fmt::format("Warning: {} session(s) could not be migrated", s["failed_sessions"].dump());
}

WaitEnd rebalance_wait_end(const json& r) {
  const std::string result = r.value("result", "");
  const std::string reason = r.contains("reason") && r["reason"].is_string() ? r["reason"].get<std::string>() : "";
  if (result == "completed") {
    WaitEnd end{true, "Rebalance completed", std::nullopt};
    if (!reason.empty()) end.warning = "Warning: " + reason;
    return end;
  }
  if (result == "stopped") return {false, "Rebalance stopped before it completed", std::nullopt};
  return {false, reason.empty() ? "Rebalance aborted" : "Rebalance aborted: " + reason, std::nullopt};
}

bool is_node_list_refusal(std::string_view why) {
  for (std::string_view text : {"unavailable nodes in ", "no available nodes list in ", "invalid node: "}) {
    if (why.starts_with(text)) return true;
  }
  return false;
}

std::string migrate_to_self_error(const NodeId& node) {
  return "invalid --migrate-to, the evacuated node itself: " + erl_atom_list({node});
}

std::string node_status_refusal(std::string_view m, const std::function<bool()>& is_member_down) {
  if (m.starts_with("invalid node")) {
    // A member that is down is known but not running: EMQX's RPC says nodedown.
    return is_member_down() ? "Error detecting rebalance status: {badrpc,nodedown}" : "Node status error: invalid node";
  }
  if (m.starts_with("Error communicating with node")) {
    return std::string("Error detecting rebalance status: ") +
           (m.find("no answer in time") != std::string_view::npos ? "{badrpc,timeout}" : "{badrpc,nodedown}");
  }
  return "Node status error: " + std::string(m);
}

}  // namespace tidemq::rebalance
