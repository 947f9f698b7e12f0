#include "app/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <thread>
#include <variant>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

namespace tidemq::app {

namespace {

using Type = KeySpec::Type;
constexpr std::int64_t kU16 = 65535;
constexpr std::int64_t kU32 = 4294967295LL;

}  // namespace

const std::vector<KeySpec>& config_keys() {
  static const std::vector<KeySpec> keys = {
      {"node.name", Type::string, "\"tidemq@127.0.0.1\""},
      {"node.data_dir", Type::string, "\"data\""},
      {"node.io_threads", Type::integer, "0", 0, 256},
      {"listeners.tcp.*.bind", Type::string, "\"0.0.0.0:1883\""},
      {"listeners.tcp.*.max_connections", Type::integer, "1024000", 0, 100000000},
      {"listeners.tcp.*.max_conn_rate", Type::integer, "0", 0, 10000000},
      {"mqtt.max_packet_size", Type::integer, "1048576", 64, 268435460},
      {"mqtt.max_inflight", Type::integer, "32", 1, kU16},
      {"mqtt.max_mqueue_len", Type::integer, "1000", 1, 100000000},
      {"mqtt.max_keepalive", Type::integer, "65535", 1, kU16},
      {"mqtt.max_topic_alias", Type::integer, "65535", 0, kU16},
      {"mqtt.retain_available", Type::boolean, "true"},
      {"mqtt.shared_subscription", Type::boolean, "true"},
      {"mqtt.wildcard_subscription", Type::boolean, "true"},
      {"mqtt.max_qos_allowed", Type::integer, "2", 0, 2},
      {"mqtt.max_connections", Type::integer, "1000000", 1, 100000000},
      {"mqtt.session_expiry_max", Type::integer, "7200", 0, kU32},
      {"mqtt.max_clientid_len", Type::integer, "65535", 23, kU16},
      {"mqtt.idle_timeout", Type::integer, "15", 1, 3600},
      {"listeners.ssl.*.bind", Type::string, "\"0.0.0.0:8883\""},
      {"listeners.ssl.*.max_connections", Type::integer, "1024000", 0, 100000000},
      {"listeners.ssl.*.max_conn_rate", Type::integer, "0", 0, 10000000},
      {"listeners.ssl.*.certfile", Type::string, "\"\""},
      {"listeners.ssl.*.keyfile", Type::string, "\"\""},
      {"listeners.ssl.*.cacertfile", Type::string, "\"\""},
      {"listeners.ssl.*.verify", Type::string, "\"verify_none\""},
      {"listeners.ssl.*.fail_if_no_peer_cert", Type::boolean, "false"},
      {"listeners.ws.*.bind", Type::string, "\"0.0.0.0:8083\""},
      {"listeners.ws.*.max_connections", Type::integer, "1024000", 0, 100000000},
      {"listeners.ws.*.max_conn_rate", Type::integer, "0", 0, 10000000},
      {"listeners.ws.*.path", Type::string, "\"/mqtt\""},
      {"listeners.wss.*.bind", Type::string, "\"0.0.0.0:8084\""},
      {"listeners.wss.*.max_connections", Type::integer, "1024000", 0, 100000000},
      {"listeners.wss.*.max_conn_rate", Type::integer, "0", 0, 10000000},
      {"listeners.wss.*.path", Type::string, "\"/mqtt\""},
      {"listeners.wss.*.certfile", Type::string, "\"\""},
      {"listeners.wss.*.keyfile", Type::string, "\"\""},
      {"listeners.wss.*.cacertfile", Type::string, "\"\""},
      {"listeners.wss.*.verify", Type::string, "\"verify_none\""},
      {"listeners.wss.*.fail_if_no_peer_cert", Type::boolean, "false"},
      {"management.listener.http.bind", Type::string, "\"0.0.0.0:8081\""},
      {"management.listener.https.bind", Type::string, "\"\""},
      {"management.listener.https.certfile", Type::string, "\"\""},
      {"management.listener.https.keyfile", Type::string, "\"\""},
      {"management.default_user", Type::string, "\"admin\""},
      {"management.default_password", Type::string, "\"public\""},
      {"management.metrics_auth", Type::boolean, "true"},
      {"management.max_body_size", Type::integer, "1048576", 1024, 104857600},
      {"management.api_keys_file", Type::string, "\"api_keys\""},
      {"management.login.max_failures", Type::integer, "10", 1, 1000000},
      {"management.login.window", Type::string, "\"60s\""},
      {"management.max_connections", Type::integer, "128", 1, 100000},
      {"management.request_timeout", Type::string, "\"30s\""},
      {"management.reply_timeout", Type::string, "\"15s\""},
      {"authentication.allow_anonymous", Type::boolean, "true"},
      {"authentication.password_file", Type::string, "\"\""},
      {"authorization.no_match", Type::string, "\"allow\""},
      {"authorization.deny_action", Type::string, "\"ignore\""},
      {"cluster.bind", Type::string, "\"\""},
      {"cluster.cookie", Type::string, "\"tidemqsecretcookie\""},
      {"cluster.allow_default_cookie", Type::boolean, "false"},
      {"cluster.discovery", Type::string, "\"static\""},
      {"cluster.static.seeds", Type::string_array, "[]"},
      {"cluster.heartbeat_interval", Type::string, "\"1s\""},
      {"cluster.down_after", Type::integer, "3", 1, 1000},
      {"cluster.rpc_timeout", Type::string, "\"5s\""},
      {"cluster.handoff_grace", Type::string, "\"5s\""},
      {"cluster.tls.enable", Type::boolean, "false"},
      {"cluster.tls.certfile", Type::string, "\"\""},
      {"cluster.tls.keyfile", Type::string, "\"\""},
      {"cluster.tls.cacertfile", Type::string, "\"\""},
      {"log.level", Type::string, "\"info\""},
      {"log.file", Type::string, "\"\""},
  };
  return keys;
}

namespace {

using Value = std::variant<std::int64_t, bool, std::string, std::vector<std::string>>;

struct Setting {
  const KeySpec* spec;
  Value value;
  std::string origin;  // "conf/tidemq.conf line 12", "environment TIDEMQ_X", "--set"
};

bool matches_pattern(std::string_view pattern, std::string_view key) {
  while (true) {
    auto pdot = pattern.find('.');
    auto kdot = key.find('.');
    auto pseg = pattern.substr(0, pdot);
    auto kseg = key.substr(0, kdot);
    if (pseg != "*" && pseg != kseg) return false;
    if (kseg.empty()) return false;
    if (pdot == std::string_view::npos || kdot == std::string_view::npos) return pdot == kdot;
    pattern.remove_prefix(pdot + 1);
    key.remove_prefix(kdot + 1);
  }
}

// A documented key, or one the built-in plugins declared (`plugin_keys`, when given).
const KeySpec* find_spec(std::string_view key, const std::vector<KeySpec>* plugin_keys = nullptr) {
  for (const auto& s : config_keys())
    if (matches_pattern(s.name, key)) return &s;
  if (plugin_keys)
    for (const auto& s : *plugin_keys)
      if (s.name == key) return &s;
  return nullptr;
}

std::string expectation(const KeySpec& s) {
  switch (s.type) {
    case Type::integer: return fmt::format("an integer from {} to {}", s.min, s.max);
    case Type::boolean: return "true or false";
    case Type::string: return "a string";
    case Type::string_array: return "an array of strings";
  }
  return "";
}

[[noreturn]] void bad_value(const KeySpec& s, std::string_view key, const std::string& origin, std::string_view why = {}) {
  throw ConfigError(fmt::format("bad value for '{}' ({}): expected {}{}{}", key, origin, expectation(s),
                                why.empty() ? "" : "; ", why));
}

Value convert(const toml::node& node, const KeySpec& s, std::string_view key, const std::string& origin) {
  switch (s.type) {
    case Type::integer: {
      auto v = node.value<std::int64_t>();
      if (!node.is_integer() || !v || *v < s.min || *v > s.max) bad_value(s, key, origin);
      return *v;
    }
    case Type::boolean:
      if (!node.is_boolean()) bad_value(s, key, origin);
      return *node.value<bool>();
    case Type::string:
      if (!node.is_string()) bad_value(s, key, origin);
      return *node.value<std::string>();
    case Type::string_array: {
      const auto* arr = node.as_array();
      if (!arr) bad_value(s, key, origin);
      std::vector<std::string> out;
      for (const auto& el : *arr) {
        if (!el.is_string()) bad_value(s, key, origin);
        out.push_back(*el.value<std::string>());
      }
      return out;
    }
  }
  bad_value(s, key, origin);
}

// A value given as text (environment, --set): TOML syntax, or a bare string for string keys.
Value convert_text(std::string_view text, const KeySpec& s, std::string_view key, const std::string& origin) {
  std::string doc = "v = " + std::string(text);
  toml::table parsed;
  try {
    parsed = toml::parse(doc);
  } catch (const toml::parse_error&) {
  }
  const toml::node* v = parsed.get("v");
  if (s.type == Type::string && !(v && v->is_string())) return std::string(text);
  if (v) return convert(*v, s, key, origin);
  bad_value(s, key, origin);
}

const std::vector<std::string> kRuleKeys = {"permission", "action", "topics", "username", "clientid", "ipaddr"};

bool valid_cidr(const std::string& text) {
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(addr, ec);
  if (ec) return false;
  if (slash == std::string::npos) return true;
  unsigned bits = 0;
  auto bits_text = text.substr(slash + 1);
  auto [p, e] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  return e == std::errc() && p == bits_text.data() + bits_text.size() && bits <= (a.is_v4() ? 32u : 128u);
}

// [[authorization.rules]]: each rule is checked here so that a typo stops startup with its line.
std::vector<AclRuleConfig> parse_rules(const toml::node& node, const std::string& file) {
  std::vector<AclRuleConfig> rules;
  const auto* arr = node.as_array();
  auto where = [&](const toml::node& n) { return fmt::format("{} line {}", file, n.source().begin.line); };
  if (!arr) throw ConfigError(fmt::format("bad value for 'authorization.rules' ({}): expected [[authorization.rules]] tables", where(node)));
  for (const auto& el : *arr) {
    const auto* t = el.as_table();
    if (!t) throw ConfigError(fmt::format("bad value for 'authorization.rules' ({}): expected a table", where(el)));
    AclRuleConfig r;
    r.origin = where(el);
    for (const auto& entry : *t) {  // no structured binding: the lambdas below capture `v`
      const toml::node& v = entry.second;
      std::string key(entry.first.str());
      if (std::find(kRuleKeys.begin(), kRuleKeys.end(), key) == kRuleKeys.end())
        throw ConfigError(fmt::format("unknown key 'authorization.rules.{}' ({})", key, where(v)));
      auto bad = [&](const char* expected) {
        throw ConfigError(fmt::format("bad value for 'authorization.rules.{}' ({}): expected {}", key, where(v), expected));
      };
      if (key == "topics") {
        const auto* topics = v.as_array();
        if (!topics || topics->empty()) bad("a non-empty array of topic filters");
        for (const auto& tv : *topics) {
          if (!tv.is_string()) bad("a non-empty array of topic filters");
          r.topics.push_back(*tv.value<std::string>());
        }
        continue;
      }
      if (!v.is_string()) bad("a string");
      std::string s = *v.value<std::string>();
      if (key == "permission") {
        if (s != "allow" && s != "deny") bad("\"allow\" or \"deny\"");
        r.permission = s;
      } else if (key == "action") {
        if (s != "publish" && s != "subscribe" && s != "all") bad("\"publish\", \"subscribe\" or \"all\"");
        r.action = s;
      } else if (key == "username") {
        r.username = s;
      } else if (key == "clientid") {
        r.clientid = s;
      } else if (key == "ipaddr") {
        if (!valid_cidr(s)) bad("an address or CIDR block such as \"10.0.0.0/8\"");
        r.ipaddr = s;
      }
    }
    if (r.permission.empty()) throw ConfigError(fmt::format("authorization rule ({}) has no 'permission'", r.origin));
    if (r.action.empty()) r.action = "all";
    if (r.topics.empty()) throw ConfigError(fmt::format("authorization rule ({}) has no 'topics'", r.origin));
    rules.push_back(std::move(r));
  }
  return rules;
}

void flatten(const toml::table& table, const std::string& prefix, const std::string& file, const std::vector<KeySpec>& plugin_keys,
             std::map<std::string, Setting>& out, std::vector<AclRuleConfig>& rules) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const auto line = node.source().begin.line;
    std::string origin = fmt::format("{} line {}", file, line);
    if (key == "authorization.rules") {
      rules = parse_rules(node, file);
      continue;
    }
    if (const auto* sub = node.as_table()) {
      flatten(*sub, key, file, plugin_keys, out, rules);
      continue;
    }
    const KeySpec* spec = find_spec(key, &plugin_keys);
    if (!spec) throw ConfigError(fmt::format("unknown key '{}' ({})", key, origin));
    out[key] = Setting{spec, convert(node, *spec, key, origin), origin};
  }
}

void apply_text(std::map<std::string, Setting>& settings, const std::vector<KeySpec>& plugin_keys, const std::string& key,
                std::string_view text, const std::string& origin) {
  const KeySpec* spec = find_spec(key, &plugin_keys);
  if (!spec) throw ConfigError(fmt::format("unknown key '{}' ({})", key, origin));
  settings[key] = Setting{spec, convert_text(text, *spec, key, origin), origin};
}

struct Reader {
  const std::map<std::string, Setting>& settings;

  const Setting* find(const std::string& key) const {
    auto it = settings.find(key);
    return it == settings.end() ? nullptr : &it->second;
  }
  Value get(const std::string& key) const {
    if (const Setting* s = find(key)) return s->value;
    const KeySpec* spec = find_spec(key);
    return convert_text(spec->default_value, *spec, key, "default");
  }
  std::int64_t integer(const std::string& key) const { return std::get<std::int64_t>(get(key)); }
  bool boolean(const std::string& key) const { return std::get<bool>(get(key)); }
  std::string string(const std::string& key) const { return std::get<std::string>(get(key)); }
  // A per-listener key ("listeners.ssl.<name>.certfile") or its default.
  std::string string_or_default(const std::string& key, const char* pattern) const {
    if (const Setting* s = find(key)) return std::get<std::string>(s->value);
    const KeySpec* spec = find_spec(pattern);
    return std::get<std::string>(convert_text(spec->default_value, *spec, key, "default"));
  }
  std::int64_t integer_or_default(const std::string& key, const std::string& pattern) const {
    if (const Setting* s = find(key)) return std::get<std::int64_t>(s->value);
    const KeySpec* spec = find_spec(pattern);
    return std::get<std::int64_t>(convert_text(spec->default_value, *spec, key, "default"));
  }
  // listeners.<kind>.<name>.max_connections / .max_conn_rate, each or its default.
  net::ListenerLimits listener_limits(const std::string& kind, const std::string& name) const {
    const std::string base = "listeners." + kind + "." + name + ".", pattern = "listeners." + kind + ".x.";
    net::ListenerLimits l;
    l.max_connections = static_cast<std::size_t>(integer_or_default(base + "max_connections", pattern + "max_connections"));
    l.max_conn_rate = static_cast<std::uint32_t>(integer_or_default(base + "max_conn_rate", pattern + "max_conn_rate"));
    return l;
  }
  bool boolean_or_default(const std::string& key) const {
    if (const Setting* s = find(key)) return std::get<bool>(s->value);
    return false;
  }
  std::string origin(const std::string& key) const {
    const Setting* s = find(key);
    return s ? s->origin : "default";
  }
};

TcpListenerConfig parse_bind(const std::string& name, const std::string& text, const std::string& key,
                             const std::string& origin) {
  auto fail = [&](const char* why) -> TcpListenerConfig {
    throw ConfigError(fmt::format("bad value for '{}' ({}): expected \"host:port\" or \"port\"; {}", key, origin, why));
  };
  std::string host = "0.0.0.0";
  std::string port_text = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return fail("empty host");
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) return fail("bad port");
  return TcpListenerConfig{name, host, static_cast<std::uint16_t>(port)};
}

std::chrono::milliseconds duration_setting(const Reader& r, const std::string& key, std::chrono::milliseconds min) {
  auto d = cluster::parse_duration(r.string(key));
  if (!d || *d < min)
    throw ConfigError(fmt::format("bad value for '{}' ({}): expected a duration such as \"500ms\" or \"2s\" (at least {} ms)",
                                  key, r.origin(key), min.count()));
  return *d;
}

cluster::ClusterSettings parse_cluster(const Reader& r, const Config& c) {
  using namespace std::chrono_literals;
  cluster::ClusterSettings cs;
  cs.node_name = c.node_name;
  cs.data_dir = c.data_dir;
  const std::string node_host = c.node_name.substr(c.node_name.find('@') + 1);
  cs.bind_host = node_host;
  if (auto bind = r.string("cluster.bind"); !bind.empty()) {
    auto b = parse_bind("cluster", bind, "cluster.bind", r.origin("cluster.bind"));
    if (bind.find(':') != std::string::npos) cs.bind_host = b.host;
    cs.bind_port = b.port;
  }
  cs.cookie = r.string("cluster.cookie");
  if (cs.cookie.empty()) throw ConfigError(fmt::format("bad value for 'cluster.cookie' ({}): must not be empty", r.origin("cluster.cookie")));
  cs.enabled = cs.cookie != cluster::kDefaultCookie || r.boolean("cluster.allow_default_cookie");
  const std::string discovery = r.string("cluster.discovery");
  if (discovery != "static" && discovery != "manual")
    throw ConfigError(fmt::format("bad value for 'cluster.discovery' ({}): expected \"static\" or \"manual\"",
                                  r.origin("cluster.discovery")));
  const Value seeds = r.get("cluster.static.seeds");
  for (const auto& seed : std::get<std::vector<std::string>>(seeds)) {
    auto a = cluster::parse_node_address(seed);
    if (!a)
      throw ConfigError(fmt::format("bad value for 'cluster.static.seeds' ({}): '{}' is not \"name@host[:port]\"",
                                    r.origin("cluster.static.seeds"), seed));
    if (discovery == "static" && a->name != c.node_name) cs.seeds.push_back(*a);
  }
  cs.heartbeat_interval = duration_setting(r, "cluster.heartbeat_interval", 10ms);
  cs.down_after = static_cast<unsigned>(r.integer("cluster.down_after"));
  cs.rpc_timeout = duration_setting(r, "cluster.rpc_timeout", 10ms);
  duration_setting(r, "cluster.handoff_grace", 0ms);  // no longer used, still validated (see parse_config)
  cs.tls = r.boolean("cluster.tls.enable");
  cs.tls_certfile = r.string("cluster.tls.certfile");
  cs.tls_keyfile = r.string("cluster.tls.keyfile");
  cs.tls_cacertfile = r.string("cluster.tls.cacertfile");
  if (cs.tls && (cs.tls_certfile.empty() || cs.tls_keyfile.empty() || cs.tls_cacertfile.empty()))
    throw ConfigError(fmt::format("cluster.tls.enable = true ({}) needs cluster.tls.certfile, cluster.tls.keyfile and "
                                  "cluster.tls.cacertfile", r.origin("cluster.tls.enable")));
  for (const auto& l : c.tcp_listeners)
    cs.mqtt_endpoints.push_back((l.host == "0.0.0.0" || l.host == "::" ? node_host : l.host) + ":" + std::to_string(l.port));
  return cs;
}

// Each plugin's section: every key it declared ("plugins.<plugin>.<key>"), set or default.
std::map<std::string, nlohmann::json> plugin_sections(const std::map<std::string, Setting>& settings,
                                                      const std::vector<KeySpec>& plugin_keys) {
  std::map<std::string, nlohmann::json> sections;
  for (const auto& spec : plugin_keys) {
    const std::string_view rest = std::string_view(spec.name).substr(std::string_view("plugins.").size());
    const std::string plugin(rest.substr(0, rest.find('.')));
    const std::string key(rest.substr(rest.find('.') + 1));
    auto it = settings.find(spec.name);
    const Value v = it != settings.end() ? it->second.value : convert_text(spec.default_value, spec, spec.name, "default");
    auto& section = sections[plugin];
    if (section.is_null()) section = nlohmann::json::object();
    std::visit([&](const auto& x) { section[key] = x; }, v);
  }
  return sections;
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& sets, char** env,
                   const std::vector<KeySpec>& plugin_keys) {
  std::map<std::string, Setting> settings;
  toml::table parsed;
  try {
    parsed = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    throw ConfigError(fmt::format("{} line {}: {}", path, err.source().begin.line, err.description()));
  }
  std::vector<AclRuleConfig> rules;
  flatten(parsed, "", path, plugin_keys, settings, rules);

  for (char** e = env; e && *e; ++e) {
    std::string_view var(*e);
    auto eq = var.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = var.substr(0, eq);
    if (!name.starts_with("TIDEMQ_") || name.find("__") == std::string_view::npos) continue;
    std::string key;
    std::string_view rest = name.substr(7);
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '_' && i + 1 < rest.size() && rest[i + 1] == '_') {
        key += '.';
        ++i;
      } else {
        key += static_cast<char>(std::tolower(static_cast<unsigned char>(rest[i])));
      }
    }
    apply_text(settings, plugin_keys, key, var.substr(eq + 1), fmt::format("environment variable {}", name));
  }
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError(fmt::format("--set '{}': expected key=value", s));
    apply_text(settings, plugin_keys, s.substr(0, eq), std::string_view(s).substr(eq + 1), fmt::format("--set {}", s));
  }

  Reader r{settings};
  Config c;
  c.source = path;
  c.node_name = r.string("node.name");
  if (c.node_name.find('@') == std::string::npos || c.node_name.front() == '@' || c.node_name.back() == '@')
    throw ConfigError(fmt::format("bad value for 'node.name' ({}): expected \"name@host\"", r.origin("node.name")));
  c.data_dir = r.string("node.data_dir");
  c.io_threads = static_cast<unsigned>(r.integer("node.io_threads"));
  if (c.io_threads == 0) c.io_threads = std::max(1u, std::thread::hardware_concurrency());

  for (const auto& [key, s] : settings) {
    if (!matches_pattern("listeners.tcp.*.bind", key)) continue;
    std::string name = key.substr(14, key.size() - 14 - 5);
    c.tcp_listeners.push_back(parse_bind(name, std::get<std::string>(s.value), key, s.origin));
  }
  if (c.tcp_listeners.empty())
    c.tcp_listeners.push_back(parse_bind("default", "0.0.0.0:1883", "listeners.tcp.default.bind", "default"));
  for (auto& l : c.tcp_listeners) l.limits = r.listener_limits("tcp", l.name);

  // TLS and WebSocket listeners: every listeners.<kind>.<name>.bind defines one.
  for (const auto& [key, s] : settings) {
    // Plain variables, not a structured binding: the `pat` lambda below captures `prefix`.
    for (const auto& kind_prefix : {std::pair{ExtraListenerConfig::Kind::ssl, std::string("listeners.ssl.")},
                                    std::pair{ExtraListenerConfig::Kind::ws, std::string("listeners.ws.")},
                                    std::pair{ExtraListenerConfig::Kind::wss, std::string("listeners.wss.")}}) {
      const ExtraListenerConfig::Kind kind = kind_prefix.first;
      const std::string& prefix = kind_prefix.second;
      if (!key.starts_with(prefix) || !key.ends_with(".bind") || key.size() <= prefix.size() + 5) continue;
      std::string name = key.substr(prefix.size(), key.size() - prefix.size() - 5);
      if (name.find('.') != std::string::npos) continue;
      auto tcp = parse_bind(name, std::get<std::string>(s.value), key, s.origin);
      ExtraListenerConfig l{kind, name, tcp.host, tcp.port};
      std::string base = prefix + name + ".";
      l.limits = r.listener_limits(prefix.substr(10, prefix.size() - 11), name);
      auto pat = [&](const char* leaf) { return prefix + "x." + leaf; };
      if (kind != ExtraListenerConfig::Kind::ssl) l.path = r.string_or_default(base + "path", pat("path").c_str());
      if (kind != ExtraListenerConfig::Kind::ws) {
        l.tls.certfile = r.string_or_default(base + "certfile", pat("certfile").c_str());
        l.tls.keyfile = r.string_or_default(base + "keyfile", pat("keyfile").c_str());
        l.tls.cacertfile = r.string_or_default(base + "cacertfile", pat("cacertfile").c_str());
        std::string verify = r.string_or_default(base + "verify", pat("verify").c_str());
        if (verify != "verify_none" && verify != "verify_peer")
          throw ConfigError(fmt::format("bad value for '{}verify' ({}): expected \"verify_none\" or \"verify_peer\"", base,
                                        r.origin(base + "verify")));
        l.tls.verify_peer = verify == "verify_peer";
        l.tls.fail_if_no_peer_cert = r.boolean_or_default(base + "fail_if_no_peer_cert");
        if (l.tls.certfile.empty() || l.tls.keyfile.empty())
          throw ConfigError(fmt::format("listener '{}{}' needs certfile and keyfile ({})", prefix, name, s.origin));
        if (l.tls.verify_peer && l.tls.cacertfile.empty())
          throw ConfigError(fmt::format("listener '{}{}' has verify = \"verify_peer\" but no cacertfile ({})", prefix, name, s.origin));
      }
      c.extra_listeners.push_back(std::move(l));
    }
  }

  // Admin HTTP API.
  auto& mg = c.management;
  if (auto bind = r.string("management.listener.http.bind"); !bind.empty())
    mg.http = parse_bind("http", bind, "management.listener.http.bind", r.origin("management.listener.http.bind"));
  if (auto bind = r.string("management.listener.https.bind"); !bind.empty()) {
    mg.https = parse_bind("https", bind, "management.listener.https.bind", r.origin("management.listener.https.bind"));
    mg.https_tls.certfile = r.string("management.listener.https.certfile");
    mg.https_tls.keyfile = r.string("management.listener.https.keyfile");
    if (mg.https_tls.certfile.empty() || mg.https_tls.keyfile.empty())
      throw ConfigError("management.listener.https.bind needs management.listener.https.certfile and .keyfile");
  }
  mg.default_user = r.string("management.default_user");
  mg.default_password = r.string("management.default_password");
  if (mg.default_user.empty() || mg.default_password.empty())
    throw ConfigError(fmt::format("bad value for 'management.default_user'/'management.default_password' ({}): must not be empty",
                                  r.origin("management.default_password")));
  mg.metrics_auth = r.boolean("management.metrics_auth");
  mg.max_body_size = static_cast<std::size_t>(r.integer("management.max_body_size"));
  mg.api_keys_file = r.string("management.api_keys_file");
  mg.login_max_failures = static_cast<int>(r.integer("management.login.max_failures"));
  mg.login_window = std::chrono::duration_cast<std::chrono::seconds>(
      duration_setting(r, "management.login.window", std::chrono::seconds(1)));
  mg.max_connections = static_cast<std::size_t>(r.integer("management.max_connections"));
  mg.request_timeout = duration_setting(r, "management.request_timeout", std::chrono::seconds(1));
  mg.reply_timeout = duration_setting(r, "management.reply_timeout", std::chrono::seconds(1));

  // MQTT authentication and authorization.
  c.auth.allow_anonymous = r.boolean("authentication.allow_anonymous");
  c.auth.password_file = r.string("authentication.password_file");
  c.auth.no_match = r.string("authorization.no_match");
  if (c.auth.no_match != "allow" && c.auth.no_match != "deny")
    throw ConfigError(fmt::format("bad value for 'authorization.no_match' ({}): expected \"allow\" or \"deny\"",
                                  r.origin("authorization.no_match")));
  c.auth.deny_action = r.string("authorization.deny_action");
  if (c.auth.deny_action != "ignore" && c.auth.deny_action != "disconnect")
    throw ConfigError(fmt::format("bad value for 'authorization.deny_action' ({}): expected \"ignore\" or \"disconnect\"",
                                  r.origin("authorization.deny_action")));
  c.auth.rules = std::move(rules);

  auto& m = c.mqtt;
  m.node_name = c.node_name;
  m.max_packet_size = static_cast<std::uint32_t>(r.integer("mqtt.max_packet_size"));
  m.max_inflight = static_cast<std::uint16_t>(r.integer("mqtt.max_inflight"));
  m.max_mqueue_len = static_cast<std::size_t>(r.integer("mqtt.max_mqueue_len"));
  m.max_keepalive = static_cast<std::uint16_t>(r.integer("mqtt.max_keepalive"));
  m.max_topic_alias = static_cast<std::uint16_t>(r.integer("mqtt.max_topic_alias"));
  m.retain_available = r.boolean("mqtt.retain_available");
  m.shared_subscription = r.boolean("mqtt.shared_subscription");
  m.wildcard_subscription = r.boolean("mqtt.wildcard_subscription");
  m.max_qos = static_cast<std::uint8_t>(r.integer("mqtt.max_qos_allowed"));
  m.max_connections = static_cast<std::size_t>(r.integer("mqtt.max_connections"));
  m.session_expiry_max = static_cast<std::uint32_t>(r.integer("mqtt.session_expiry_max"));
  m.max_clientid_len = static_cast<std::size_t>(r.integer("mqtt.max_clientid_len"));
  c.idle_timeout = static_cast<unsigned>(r.integer("mqtt.idle_timeout"));

  c.cluster = parse_cluster(r, c);
  if (r.origin("cluster.handoff_grace") != "default")
    c.notices.push_back(fmt::format("cluster.handoff_grace ({}) is no longer used: a moved session's handoff window now "
                                    "ends when every node routes to its new node (see docs/cluster.md)",
                                    r.origin("cluster.handoff_grace")));

  c.log_level = r.string("log.level");
  static const std::vector<std::string> levels = {"trace", "debug", "info", "warning", "error", "critical", "off"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end())
    throw ConfigError(fmt::format("bad value for 'log.level' ({}): expected one of trace, debug, info, warning, "
                                  "error, critical, off",
                                  r.origin("log.level")));
  if (auto f = r.string("log.file"); !f.empty()) c.log_file = f;
  c.plugins = plugin_sections(settings, plugin_keys);
  return c;
}

}  // namespace tidemq::app
