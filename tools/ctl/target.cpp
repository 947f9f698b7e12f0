// Locating the node: flags / TIDEMQ_CTL_* > the node's config file > defaults (the node's own
// defaults: management.listener.http.bind = "0.0.0.0:8081", admin / public).
#include <charconv>
#include <filesystem>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "ctl.hpp"

namespace tidemq::ctl {

namespace {

constexpr const char* kDefaultBind = "0.0.0.0:8081";

// "host:port", "[v6]:port" or "port", as the node parses management.listener.http.bind.
void apply_bind(const std::string& bind, const std::string& where, Target& t) {
  std::string host = "0.0.0.0", port_text = bind;
  if (auto colon = bind.rfind(':'); colon != std::string::npos) {
    host = bind.substr(0, colon);
    port_text = bind.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 || port > 65535)
    throw Failure(fmt::format("bad management.listener.http.bind \"{}\" in {} (use --url)", bind, where));
  // A wildcard bind listens on every address: talk to it over loopback.
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  t.host = host;
  t.port = static_cast<std::uint16_t>(port);
}

std::optional<std::string> string_at(const toml::table& tbl, std::string_view path, const std::string& file) {
  auto node = tbl.at_path(path);
  if (!node) return std::nullopt;
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  throw Failure(fmt::format("{}: '{}' must be a string", file, path));
}

}  // namespace

void parse_url(const std::string& url, Target& out) {
  std::string rest = url;
  if (auto p = rest.find("://"); p != std::string::npos) {
    std::string scheme = rest.substr(0, p);
    for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (scheme == "https") throw Failure("https URLs are not supported by tidemq_ctl yet; use the http listener");
    if (scheme != "http") throw Failure(fmt::format("bad URL \"{}\": the scheme must be http", url));
    rest = rest.substr(p + 3);
  }
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string host = rest, port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) throw Failure(fmt::format("bad URL \"{}\"", url));
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw Failure(fmt::format("bad URL \"{}\"", url));
      port_text = rest.substr(close + 2);
    }
  } else if (auto colon = rest.find(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  unsigned port = 80;
  if (!port_text.empty() || rest.ends_with(":")) {
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 || port > 65535)
      throw Failure(fmt::format("bad URL \"{}\": bad port", url));
  }
  if (host.empty()) throw Failure(fmt::format("bad URL \"{}\": no host", url));
  out.host = host;
  out.port = static_cast<std::uint16_t>(port);
  out.base_path = path;
}

Target resolve_target(const ConnectionOptions& o) {
  Target t;
  const bool need_file = o.url.empty() || !o.user_given || !o.password_given;
  if (need_file) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(o.config_file, ec);
    if (!exists && o.config_given) throw Failure(fmt::format("cannot read config file {}", o.config_file));
    std::string bind = kDefaultBind, bind_where = "the built-in default";
    if (exists) {
      toml::table tbl;
      try {
        tbl = toml::parse_file(o.config_file);
      } catch (const toml::parse_error& err) {
        throw Failure(fmt::format("cannot parse config file {} line {}: {}", o.config_file,
                                  err.source().begin.line, err.description()));
      }
      if (auto b = string_at(tbl, "management.listener.http.bind", o.config_file)) {
        if (b->empty() && o.url.empty())
          throw Failure(fmt::format("the node's HTTP admin listener is disabled in {} "
                                    "(management.listener.http.bind is empty); use --url",
                                    o.config_file));
        bind = *b;
        bind_where = o.config_file;
      }
      if (auto u = string_at(tbl, "management.default_user", o.config_file)) t.user = *u;
      if (auto p = string_at(tbl, "management.default_password", o.config_file)) t.password = *p;
    }
    if (o.url.empty()) apply_bind(bind, bind_where, t);
  }
  if (!o.url.empty()) parse_url(o.url, t);
  if (o.user_given) t.user = o.user;
  if (o.password_given) t.password = o.password;
  return t;
}

}  // namespace tidemq::ctl
