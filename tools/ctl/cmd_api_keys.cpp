// tidemq_ctl api-keys add <key> [--description D] | delete <key> | list
// An API key authenticates to the admin API with HTTP Basic key:secret; the secret is shown once.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "ctl.hpp"

namespace tidemq::ctl {

using nlohmann::json;

void add_api_keys_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("api-keys", "API keys for the admin API");
  group->require_subcommand(1);

  struct Args {
    std::string key, description;
  };

  auto add_args = std::make_shared<Args>();
  auto* add = group->add_subcommand("add", "create an API key and print its secret (shown only once)");
  add->add_option("key", add_args->key, "key id (1-64 characters, no ':' or spaces)")->required();
  add->add_option("-d,--description", add_args->description, "what the key is for");
  add->callback([&ctx, add_args] {
    ctx.action = [add_args](Api& api) {
      auto doc = api.post("/api/v4/api_keys", json{{"key", add_args->key}, {"description", add_args->description}});
      const auto& d = doc["data"];
      if (!d.is_object() || !d.contains("secret")) throw Failure("unexpected answer from /api/v4/api_keys");
      std::cout << "key: " << text(d.value("key", json(add_args->key))) << "\n"
                << "secret: " << text(d["secret"]) << "\n";
    };
  });

  auto delete_args = std::make_shared<Args>();
  auto* del = group->add_subcommand("delete", "delete an API key");
  del->add_option("key", delete_args->key, "key id")->required();
  del->callback([&ctx, delete_args] {
    ctx.action = [delete_args](Api& api) {
      api.del("/api/v4/api_keys/" + path_segment(delete_args->key));
      std::cout << "ok\n";
    };
  });

  auto* list = group->add_subcommand("list", "one line per API key (never the secret)");
  list->callback([&ctx] {
    ctx.action = [](Api& api) {
      auto doc = api.get("/api/v4/api_keys");
      if (!doc["data"].is_array()) throw Failure("unexpected answer from /api/v4/api_keys");
      for (const auto& k : doc["data"])
        std::cout << "key: " << text(k.value("key", json(nullptr))) << ", description: "
                  << text(k.value("description", json("")), "") << ", created_at: "
                  << text(k.value("created_at", json(nullptr))) << "\n";
    };
  });
}

}  // namespace tidemq::ctl
