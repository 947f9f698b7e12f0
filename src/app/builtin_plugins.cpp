// The one place in src/ that names plugin code: each built-in plugin, if TIDEMQ_PLUGINS selected
// it (src/CMakeLists.txt defines TIDEMQ_PLUGIN_<NAME> for those it links).
#include "app/builtin_plugins.hpp"

#if TIDEMQ_PLUGIN_REBALANCE
#include "rebalance/rebalance_plugin.hpp"
#endif

namespace tidemq::app {

std::vector<std::unique_ptr<plugin::Plugin>> make_builtin_plugins() {
  std::vector<std::unique_ptr<plugin::Plugin>> plugins;
#if TIDEMQ_PLUGIN_REBALANCE
  plugins.push_back(rebalance::make_rebalance_plugin());
#endif
  return plugins;
}

}  // namespace tidemq::app
