// tidemq_ctl status — like emqx_ctl status: "Node 'tidemq@127.0.0.1' 0.1.0 is started" and the
// node's uptime, connections and sessions.
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ctl.hpp"

namespace tidemq::ctl {

void add_status_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("status", "node name, version, uptime, connections and sessions");
  cmd->callback([&ctx] {
    ctx.action = [](Api& api) {
      auto doc = api.get("/api/v4/nodes");
      const auto& data = doc["data"];
      if (!data.is_array() || data.empty() || !data[0].is_object())
        throw Failure("unexpected answer from /api/v4/nodes");
      const auto& n = data[0];
      std::string status = text(n.value("node_status", nlohmann::json("unknown")));
      std::string head = fmt::format("Node '{}' {}", text(n.value("node", nlohmann::json(nullptr))),
                                     text(n.value("version", nlohmann::json(nullptr))));
      if (status == "Running")
        std::cout << head << " is started\n";
      else
        std::cout << head << " is " << status << "\n";
      std::cout << "uptime      : " << text(n.value("uptime", nlohmann::json(nullptr))) << "\n"
                << "connections : " << text(n.value("connections", nlohmann::json(nullptr))) << "\n"
                << "sessions    : " << text(n.value("sessions", nlohmann::json(nullptr))) << "\n";
    };
  });
}

}  // namespace tidemq::ctl
