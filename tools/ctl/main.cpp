// tidemq_ctl — emqx_ctl-style command line client of a tidemq node's admin HTTP API.
// Exit codes: 0 success, 1 the command failed (message on stderr), 2 usage error.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "ctl.hpp"

int main(int argc, char** argv) {
  using namespace tidemq::ctl;
  Context ctx;
  auto& c = ctx.connection;

  CLI::App app{"tidemq_ctl — manage a running tidemq node through its admin HTTP API.\n"
               "The node is found with --url/--user/--password (or TIDEMQ_CTL_URL, TIDEMQ_CTL_USER,\n"
               "TIDEMQ_CTL_PASSWORD), else from the node's config file (-c)."};
  app.set_version_flag("--version", std::string("tidemq_ctl ") + TIDEMQ_VERSION);
  app.fallthrough();  // global options may also follow the command
  app.require_subcommand(1);
  auto* config_opt =
      app.add_option("-c,--config", c.config_file,
                     "the node's configuration file: admin bind address and credentials are read from it")
          ->capture_default_str()
          ->check(CLI::ExistingFile);
  app.add_option("--url", c.url, "admin API base URL, e.g. http://127.0.0.1:8081")->envname("TIDEMQ_CTL_URL");
  auto* user_opt = app.add_option("--user", c.user, "admin user or API key")->envname("TIDEMQ_CTL_USER");
  auto* password_opt =
      app.add_option("--password", c.password, "password or API key secret")->envname("TIDEMQ_CTL_PASSWORD");
  app.add_option("--timeout", c.timeout_seconds, "seconds to wait for the node")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));

  add_status_command(app, ctx);
  add_clients_commands(app, ctx);
  add_users_commands(app, ctx);
  add_api_keys_commands(app, ctx);
  add_cluster_commands(app, ctx);
  add_rebalance_commands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (argc == 1) {  // no command at all: show what there is
      std::cerr << app.help();
      return 2;
    }
    // CLI11 reports an unknown command word as "A subcommand is required": name it instead.
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      // `rebalance` / `eviction` without (or with an unknown) command: their usage text, as emqx_ctl.
      CLI::App* group = nullptr;
      for (auto* sub : app.get_subcommands()) {
        if (sub->get_name() == "rebalance" || sub->get_name() == "eviction") group = sub;
      }
      if (auto rest = app.remaining(true); !rest.empty()) {
        std::cerr << "Unknown command: " << rest.front() << "\n";
        if (group == nullptr) {
          std::cerr << "Run with --help for more information.\n";
          return 2;
        }
      }
      if (group != nullptr) {
        std::cerr << group->help();
        return 2;
      }
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // (`rebalance start|plan` may have met these among their own arguments already)
  c.config_given = c.config_given || config_opt->count() > 0;
  c.user_given = c.user_given || user_opt->count() > 0;
  c.password_given = c.password_given || password_opt->count() > 0;

  if (!ctx.action) {  // a group without its subcommand is caught by require_subcommand; be safe
    std::cerr << app.help();
    return 2;
  }
  try {
    Api api(resolve_target(c), std::chrono::milliseconds(static_cast<long long>(c.timeout_seconds * 1000)));
    ctx.action(api);
    std::cout.flush();
    return 0;
  } catch (const PlainFailure& e) {
    std::cout.flush();
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const Failure& e) {
    std::cout.flush();
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  }
}
