// tidemq_ctl clients list | show <clientid> | kick <clientid>
// One line per client in the emqx_ctl style:
//   Client(c1, username=-, peername=127.0.0.1:50212, clean_start=true, proto_ver=5, keepalive=60,
//          session_expiry_interval=0, subscriptions=1, inflight=0, mqueue_len=0, connected=true,
//          created_at=2026-11-21 23:40:01, connected_at=2026-11-21 23:40:01)
// with ", disconnected_at=..." before the ")" once the client has gone. A value the node does not
// know (null in the API) prints as "-".
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ctl.hpp"

namespace tidemq::ctl {

using nlohmann::json;

namespace {

constexpr const char* kUnknown = "-";

std::string field(const json& c, const char* key) {
  return text(c.contains(key) ? c[key] : json(nullptr), kUnknown);
}

std::string client_line(const json& c) {
  std::string peer = kUnknown;
  if (c.contains("ip_address") && c["ip_address"].is_string() && !c["ip_address"].get<std::string>().empty()) {
    std::string ip = c["ip_address"].get<std::string>();
    if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
    peer = ip + ":" + field(c, "port");
  }
  std::string line = fmt::format(
      "Client({}, username={}, peername={}, clean_start={}, proto_ver={}, keepalive={}, session_expiry_interval={}, "
      "subscriptions={}, inflight={}, mqueue_len={}, connected={}, created_at={}, connected_at={}",
      field(c, "clientid"), field(c, "username"), peer, field(c, "clean_start"), field(c, "proto_ver"),
      field(c, "keepalive"), field(c, "expiry_interval"), field(c, "subscriptions_cnt"), field(c, "inflight"),
      field(c, "mqueue_len"), field(c, "connected"), field(c, "created_at"), field(c, "connected_at"));
  if (c.contains("disconnected_at") && !c["disconnected_at"].is_null())
    line += ", disconnected_at=" + field(c, "disconnected_at");
  return line + ")";
}

}  // namespace

void add_clients_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("clients", "list, show and kick clients (sessions)");
  group->require_subcommand(1);

  auto* list = group->add_subcommand("list", "one line per session on the node, connected or not");
  list->callback([&ctx] {
    ctx.action = [](Api& api) {
      constexpr int kLimit = 1000;
      for (int page = 1; page <= 100000; ++page) {
        auto doc = api.get(fmt::format("/api/v4/clients?_page={}&_limit={}", page, kLimit));
        if (!doc["data"].is_array()) throw Failure("unexpected answer from /api/v4/clients");
        for (const auto& c : doc["data"]) std::cout << client_line(c) << "\n";
        const bool hasnext = doc.contains("meta") && doc["meta"].value("hasnext", false);
        if (!hasnext || doc["data"].empty()) break;
      }
    };
  });

  auto show_id = std::make_shared<std::string>();
  auto* show = group->add_subcommand("show", "one client");
  show->add_option("clientid", *show_id, "client identifier")->required();
  show->callback([&ctx, show_id] {
    ctx.action = [show_id](Api& api) {
      auto doc = api.get("/api/v4/clients/" + path_segment(*show_id));
      const auto& data = doc["data"];
      if (!data.is_array()) throw Failure("unexpected answer from /api/v4/clients/{clientid}");
      if (data.empty()) throw Failure("client not found");
      for (const auto& c : data) std::cout << client_line(c) << "\n";
    };
  });

  auto kick_id = std::make_shared<std::string>();
  auto* kick = group->add_subcommand("kick", "disconnect a client (MQTT 5: DISCONNECT 0x98) and end its session");
  kick->add_option("clientid", *kick_id, "client identifier")->required();
  kick->callback([&ctx, kick_id] {
    ctx.action = [kick_id](Api& api) {
      api.del("/api/v4/clients/" + path_segment(*kick_id));
      std::cout << "ok\n";
    };
  });
}

}  // namespace tidemq::ctl
