// A plugin's config section: declared keys checked by the config loader like the node's own, the
// section handed to the plugin with defaults filled in, and plugins.<name>.enable.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "admin/router.hpp"
#include "app/config.hpp"
#include "app/plugin_host.hpp"
#include "cluster/cluster.hpp"
#include "core/broker.hpp"
#include "fake_clock.hpp"

using namespace tidemq;
using Catch::Matchers::Contains;

namespace {

// Declares two keys and records what it was started with.
struct SamplePlugin final : plugin::Plugin {
  plugin::Json seen;
  int starts = 0;
  std::string_view name() const noexcept override { return "sample"; }
  std::vector<plugin::ConfigKey> config_keys() const override {
    return {{"rate", plugin::ConfigKey::Type::integer, "10", 1, 100},
            {"targets", plugin::ConfigKey::Type::string_array, "[]"},
            {"bad.key", plugin::ConfigKey::Type::boolean, "true"}};  // not one word: left out
  }
  std::string start(plugin::PluginContext& ctx) override {
    ++starts;
    seen = ctx.config;
    return "";
  }
  void stop() noexcept override {}
};

struct ConfigFile {
  std::filesystem::path path;
  explicit ConfigFile(const std::string& text)
      : path(std::filesystem::temp_directory_path() / ("tidemq-plugin-config-" + std::to_string(::getpid()) + ".conf")) {
    std::ofstream(path) << text;
  }
  ~ConfigFile() { std::filesystem::remove(path); }
};

std::vector<std::unique_ptr<plugin::Plugin>> sample_plugins() {
  std::vector<std::unique_ptr<plugin::Plugin>> v;
  v.push_back(std::make_unique<SamplePlugin>());
  return v;
}

}  // namespace

TEST_CASE("plugin config: declared keys, enable, and defaults", "[unit][app][plugin]") {
  auto plugins = sample_plugins();
  const auto keys = app::plugin_config_keys(plugins);
  REQUIRE(keys.size() == 3);  // enable, rate, targets
  CHECK(keys[0].name == "plugins.sample.enable");

  SECTION("defaults when the file says nothing") {
    ConfigFile f("");
    auto c = app::load_config(f.path.string(), {}, nullptr, keys);
    CHECK(c.plugins.at("sample") == plugin::Json{{"enable", true}, {"rate", 10}, {"targets", plugin::Json::array()}});
  }
  SECTION("file, environment and --set, in that order of precedence") {
    ConfigFile f("[plugins.sample]\nrate = 20\ntargets = [\"a\", \"b\"]\n");
    std::string env_rate = "TIDEMQ_PLUGINS__SAMPLE__RATE=30";
    char* env[] = {env_rate.data(), nullptr};
    auto c = app::load_config(f.path.string(), {"plugins.sample.enable=false"}, env, keys);
    CHECK(c.plugins.at("sample") == plugin::Json{{"enable", false}, {"rate", 30}, {"targets", {"a", "b"}}});
  }
  SECTION("a value out of range names the key, the file and the line") {
    ConfigFile f("plugins.sample.rate = 101\n");
    CHECK_THROWS_WITH(app::load_config(f.path.string(), {}, nullptr, keys),
                      Contains("'plugins.sample.rate'") && Contains("line 1") && Contains("from 1 to 100"));
  }
  SECTION("an undeclared key is refused like any unknown key") {
    ConfigFile f("plugins.sample.bad.key = true\n");
    CHECK_THROWS_WITH(app::load_config(f.path.string(), {}, nullptr, keys), Contains("unknown key 'plugins.sample.bad.key'"));
    ConfigFile g("");
    CHECK_THROWS_WITH(app::load_config(g.path.string(), {"plugins.other.enable=true"}, nullptr, keys),
                      Contains("unknown key 'plugins.other.enable'"));
  }
}

TEST_CASE("plugin host: a plugin gets its section; enable = false leaves it unstarted", "[unit][app][plugin]") {
  boost::asio::io_context ctx;
  test::FakeClock clock;
  core::BrokerSettings bs;
  bs.node_name = "lone@127.0.0.1";
  core::Broker broker(bs, clock);
  cluster::ClusterSettings cs;
  cs.node_name = bs.node_name;
  cluster::Cluster cluster(cs, ctx, broker);  // clustering off: a cluster of one
  REQUIRE(cluster.start());
  admin::Router routes;

  auto owned = std::make_unique<SamplePlugin>();
  SamplePlugin& sample = *owned;
  const bool enabled = GENERATE(true, false);
  app::PluginHost host(ctx, broker, cluster, routes, std::filesystem::temp_directory_path());
  host.add(std::move(owned), plugin::Json{{"enable", enabled}, {"rate", 42}, {"targets", {"x"}}});
  REQUIRE(host.start());
  if (enabled) {
    CHECK(sample.starts == 1);
    CHECK(sample.seen == plugin::Json{{"rate", 42}, {"targets", {"x"}}});  // enable is the host's
  } else {
    CHECK(sample.starts == 0);
  }
  host.stop();
}
