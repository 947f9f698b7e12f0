// tidemq_ctl users add <username> <password> | passwd <username> <password> | delete <username> | list
// MQTT users (authentication.password_file), through /api/v4/auth_username.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "ctl.hpp"

namespace tidemq::ctl {

using nlohmann::json;

void add_users_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("users", "MQTT users of password authentication");
  group->require_subcommand(1);

  struct Args {
    std::string username, password;
  };

  auto add_args = std::make_shared<Args>();
  auto* add = group->add_subcommand("add", "add a user");
  add->add_option("username", add_args->username, "user name")->required();
  add->add_option("password", add_args->password, "password")->required();
  add->callback([&ctx, add_args] {
    ctx.action = [add_args](Api& api) {
      api.post("/api/v4/auth_username", json{{"username", add_args->username}, {"password", add_args->password}});
      std::cout << "ok\n";
    };
  });

  auto passwd_args = std::make_shared<Args>();
  auto* passwd = group->add_subcommand("passwd", "change a user's password");
  passwd->add_option("username", passwd_args->username, "user name")->required();
  passwd->add_option("password", passwd_args->password, "new password")->required();
  passwd->callback([&ctx, passwd_args] {
    ctx.action = [passwd_args](Api& api) {
      api.put("/api/v4/auth_username/" + path_segment(passwd_args->username),
              json{{"password", passwd_args->password}});
      std::cout << "ok\n";
    };
  });

  auto delete_args = std::make_shared<Args>();
  auto* del = group->add_subcommand("delete", "delete a user");
  del->add_option("username", delete_args->username, "user name")->required();
  del->callback([&ctx, delete_args] {
    ctx.action = [delete_args](Api& api) {
      api.del("/api/v4/auth_username/" + path_segment(delete_args->username));
      std::cout << "ok\n";
    };
  });

  auto* list = group->add_subcommand("list", "user names, one per line");
  list->callback([&ctx] {
    ctx.action = [](Api& api) {
      auto doc = api.get("/api/v4/auth_username");
      if (!doc["data"].is_array()) throw Failure("unexpected answer from /api/v4/auth_username");
      for (const auto& u : doc["data"]) {
        if (u.is_object() && u.contains("username"))
          std::cout << text(u["username"]) << "\n";
        else
          std::cout << text(u) << "\n";
      }
    };
  });
}

}  // namespace tidemq::ctl
