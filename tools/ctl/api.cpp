// Admin API calls: JSON bodies, v4 conventions ({"code":0,"data":...}; errors {"code","message"}),
// and error messages an operator can act on.
#include <fmt/format.h>

#include "ctl.hpp"

namespace tidemq::ctl {

using nlohmann::json;

std::string path_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::string text(const json& v, const char* null_text) {
  if (v.is_null()) return null_text;
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

Api::Answer Api::call_v4(const std::string& method, const std::string& path, const std::optional<json>& body) {
  HttpResult r;
  try {
    r = http_request(target_, method, path, body ? std::optional<std::string>(body->dump()) : std::nullopt, timeout_,
                     "tidemq_ctl/" TIDEMQ_VERSION);
  } catch (const HttpFailure& e) {
    throw Failure(e.what());
  }
  json doc;
  bool is_json = true;
  try {
    doc = r.body.empty() ? json() : json::parse(r.body);
  } catch (const json::exception&) {
    is_json = false;
  }
  std::string message;
  if (is_json && doc.is_object() && doc.contains("message") && doc["message"].is_string())
    message = doc["message"].get<std::string>();
  const std::string route = path.substr(0, path.find('?'));

  if (r.status == 401)
    throw Failure(fmt::format("authentication failed as '{}' at {} (check --user/--password, TIDEMQ_CTL_USER/"
                              "TIDEMQ_CTL_PASSWORD or management.default_user/default_password)",
                              target_.user, target_.url()));
  if (r.status == 404 && message == "not found")  // the router's answer: no such endpoint
    throw Failure(fmt::format("{} {} not found on {}: the node does not provide this API", method, route,
                              target_.url()));
  if (r.status == 405)
    throw Failure(fmt::format("{} {} not allowed on {}: the node does not provide this API", method, route,
                              target_.url()));
  if (r.status < 200 || r.status >= 300) {
    if (!message.empty()) throw Failure(message);
    throw Failure(fmt::format("{} {} answered HTTP {}", method, route, r.status));
  }
  if (!is_json || !doc.is_object())
    throw Failure(fmt::format("{} {}: the node's answer is not a JSON object", method, route));
  if (doc.contains("code") && doc["code"] != 0)
    return {doc, message.empty() ? fmt::format("code {}", doc["code"].dump()) : message};
  return {doc, std::nullopt};
}

json Api::call(const std::string& method, const std::string& path, const std::optional<json>& body) {
  Answer a = call_v4(method, path, body);
  if (!a.refused) return std::move(a.doc);
  if (a.doc.contains("message")) throw Failure(*a.refused);
  throw Failure(fmt::format("{} {} failed: {}", method, path.substr(0, path.find('?')), *a.refused));
}

}  // namespace tidemq::ctl
