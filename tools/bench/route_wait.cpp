// --wait-routes: the URL, the admin API request (tidemq_ctl's HTTP client) and reading the routes
// out of the JSON answer.
#include "route_wait.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "clock.hpp"

namespace tidemq::bench {

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(2);
constexpr std::uint64_t kPollInterval = 50 * kMs;

// http://user:secret@host → http://user:***@host
std::string redact(const std::string& url) {
  const std::size_t start = url.find("://"), at = url.find('@');
  if (start == std::string::npos || at == std::string::npos || at < start) return url;
  const std::size_t colon = url.find(':', start + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// Splits http://[user:password@]host[:port][/path] into the target and the path (default "/");
// returns "" or why the URL cannot be used.
std::string parse_url(const std::string& url, ctl::Target& target, std::string& path) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return "only http:// URLs";
  const std::string rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  target.base_path.clear();
  target.authenticate = false;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    target.user = userinfo.substr(0, colon);
    target.password = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
    target.authenticate = true;
    authority = authority.substr(at + 1);
  }
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), target.port);
  if (ec != std::errc() || end != port.data() + port.size()) return fmt::format("bad port '{}'", port);
  target.host = host;
  return {};
}

// Every "topic" string in the document, at any depth.
void collect_topics(const nlohmann::json& doc, std::set<std::string>& out) {
  if (doc.is_object()) {
    if (auto it = doc.find("topic"); it != doc.end() && it->is_string()) out.insert(it->get<std::string>());
    for (const auto& v : doc) collect_topics(v, out);
  } else if (doc.is_array()) {
    for (const auto& v : doc) collect_topics(v, out);
  }
}

}  // namespace

RouteWait::RouteWait(std::string url, const std::vector<ConnSpec>& subs) : url_(std::move(url)) {
  url_error_ = parse_url(url_, target_, path_);
  for (const auto& s : subs) filters_.insert(s.topic);
  missing_ = filters_.size();
}

bool RouteWait::poll() {
  const std::uint64_t now = now_ns();
  if (now - last_poll_ < kPollInterval) return false;
  last_poll_ = now;
  if (!url_error_.empty()) {
    err_ = url_error_;
    return false;
  }
  ctl::HttpResult r;
  try {
    r = ctl::http_request(target_, "GET", path_, std::nullopt, kRequestTimeout, "tidemq_bench");
  } catch (const ctl::HttpFailure& e) {
    err_ = fmt::format("GET {}: {}", redact(url_), e.reason());
    return false;
  }
  if (r.status < 200 || r.status > 299) {
    err_ = fmt::format("GET {}: HTTP {}", redact(url_), r.status);
    return r.status == 401 || r.status == 403 || r.status == 404 || r.status == 429;
  }
  err_.clear();
  std::set<std::string> routed;
  collect_topics(nlohmann::json::parse(r.body, nullptr, false), routed);  // not JSON: nothing routed
  missing_ = 0;
  for (const auto& f : filters_)
    if (!routed.contains(f)) ++missing_;
  return missing_ == 0;
}

void RouteWait::report(double waited_ms, bool quiet) const {
  if (missing_)
    fmt::print(stderr, "tidemq_bench: warning: {} of {} subscriber filters not in {} after {:.0f} ms{}{}\n", missing_,
               filters_.size(), redact(url_), waited_ms, err_.empty() ? "" : ": ", err_);
  else if (!quiet)
    fmt::print("routes: all {} subscriber filters visible after {:.0f} ms\n", filters_.size(), waited_ms);
}

}  // namespace tidemq::bench
