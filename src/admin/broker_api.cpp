#include "admin/broker_api.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tidemq/mqtt/topic.hpp"

namespace tidemq::admin {

using nlohmann::json;

namespace {

std::string uptime_text(util::Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  auto days = s / 86400, hours = (s / 3600) % 24, minutes = (s / 60) % 60, seconds = s % 60;
  std::string out;
  if (days) out += fmt::format("{} days, ", days);
  if (days || hours) out += fmt::format("{} hours, ", hours);
  if (days || hours || minutes) out += fmt::format("{} minutes, ", minutes);
  out += fmt::format("{} seconds", seconds);
  return out;
}

std::string iso8601(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

// 0 is "not known" (a session that came from a node that did not send it) or "not yet".
json time_or_null(std::int64_t ms) { return ms ? json(iso8601(ms)) : json(nullptr); }

}  // namespace

json client_json(const core::ClientInfo& c, const std::string& node) {
  std::string ip = c.peer_address, port;
  if (auto colon = ip.rfind(':'); colon != std::string::npos) {
    port = ip.substr(colon + 1);
    ip = ip.substr(0, colon);
  }
  return json{{"clientid", c.client_id},
              {"username", c.username ? json(*c.username) : json(nullptr)},
              {"connected", c.connected},
              {"ip_address", ip},
              {"port", port.empty() ? json(nullptr) : json(std::stoi(port))},
              {"proto_ver", c.protocol_level},
              {"proto_name", "MQTT"},
              {"keepalive", c.keep_alive},
              {"subscriptions_cnt", c.subscriptions},
              {"mqueue_len", c.queued},
              {"inflight", c.inflight},
              {"expiry_interval", c.expiry_interval},
              {"clean_start", c.clean_start},
              {"connected_at", time_or_null(c.connected_at_ms)},
              {"disconnected_at", time_or_null(c.disconnected_at_ms)},
              {"created_at", time_or_null(c.created_at_ms)},
              {"node", node}};
}

json node_entry_json(core::Broker& broker, const NodeInfo& node) {
  auto& reg = broker.registry();
  return json{{"node", node.node_name},
              {"node_status", "Running"},
              {"connections", reg.connection_count()},
              {"sessions", reg.session_count()},
              {"uptime", uptime_text(broker.clock().now() - node.started_at)},
              {"version", node.version}};
}

json stats_json(core::Broker& broker, const NodeInfo& node) {
  auto& s = broker.stats();
  auto& reg = broker.registry();
  return json{{"node", node.node_name},
              {"connections.count", reg.connection_count()},
              {"connections.max", std::max<std::uint64_t>(s.connections_max, reg.connection_count())},
              {"sessions.count", reg.session_count()},
              {"sessions.max", std::max<std::uint64_t>(s.sessions_max, reg.session_count())},
              {"subscriptions.count", broker.router().subscription_count()},
              {"subscriptions.max", std::max<std::uint64_t>(s.subscriptions_max, broker.router().subscription_count())},
              {"topics.count", broker.router().filter_count()},
              {"topics.max", std::max<std::uint64_t>(s.topics_max, broker.router().filter_count())},
              {"retained.count", broker.retained().size()},
              {"retained.max", std::max<std::uint64_t>(s.retained_max, broker.retained().size())}};
}

namespace {

struct Page {
  std::size_t page = 1;
  std::size_t limit = 10000;
};

std::optional<Page> read_page(const HttpRequest& r, HttpResponse& error) {
  Page p;
  auto num = [&](const char* key, std::size_t& out) {
    auto it = r.query.find(key);
    if (it == r.query.end()) return true;
    try {
      std::size_t used = 0;
      long long v = std::stoll(it->second, &used);
      if (used != it->second.size() || v < 1 || v > 1000000) throw std::invalid_argument("range");
      out = static_cast<std::size_t>(v);
      return true;
    } catch (const std::exception&) {
      error = v4_error(400, fmt::format("{} must be an integer from 1 to 1000000", key));
      return false;
    }
  };
  if (!num("_page", p.page) || !num("_limit", p.limit)) return std::nullopt;
  return p;
}

json meta(const Page& p, std::size_t count, bool hasnext) {
  return json{{"page", p.page}, {"limit", p.limit}, {"count", count}, {"hasnext", hasnext}};
}

HttpResponse publish_handler(core::Broker& broker, const HttpRequest& r) {
  json body = json::parse(r.body);
  if (!body.is_object()) return v4_error(400, "body must be a JSON object");
  if (!body.contains("topic") || !body["topic"].is_string()) return v4_error(400, "'topic' (string) is required");
  auto m = std::make_shared<core::Message>();
  m->uid = core::new_message_uid();
  m->topic = body["topic"].get<std::string>();
  if (!mqtt::valid_topic_name(m->topic)) return v4_error(400, "'topic' is not a valid topic name");
  std::string payload = body.value("payload", "");
  std::string encoding = body.value("encoding", "plain");
  if (encoding == "base64") {
    auto decoded = decode_base64(payload);
    if (!decoded) return v4_error(400, "'payload' is not valid base64");
    payload = std::move(*decoded);
  } else if (encoding != "plain") {
    return v4_error(400, "'encoding' must be \"plain\" or \"base64\"");
  }
  // A number 0 … max_qos; 1.0 is 1. Checked as a double first: converting 1e300 to an int is
  // undefined behaviour, not an error.
  double qos = 0;
  if (auto it = body.find("qos"); it != body.end()) {
    if (!it->is_number()) return v4_error(400, "'qos' must be 0, 1 or 2 (up to mqtt.max_qos_allowed)");
    qos = it->get<double>();
  }
  if (!(qos >= 0 && qos <= broker.settings().max_qos) || qos != std::floor(qos))
    return v4_error(400, "'qos' must be 0, 1 or 2 (up to mqtt.max_qos_allowed)");
  m->qos = static_cast<std::uint8_t>(qos);
  m->retain = body.value("retain", false);
  if (m->retain && !broker.settings().retain_available) return v4_error(400, "retained messages are disabled");
  m->payload = std::move(payload);
  m->publisher = body.value("clientid", "http_api");
  bool refused = false;
  broker.publish(m, &refused);
  if (refused) return v4_error(503, "a cluster link is full: the message was not published; retry later");
  return json_response(200, {{"code", 0}});
}

}  // namespace

void register_broker_api(Router& router, core::Broker& broker, AdminAuth& auth, NodeInfo node,
                         BrokerApiOptions options) {
  auto& reg = broker.registry();
  router.add("GET", "/api/v4/stats", [&broker, node](const HttpRequest&, const Params&) {
    return v4_ok(json::array({stats_json(broker, node)}));
  });
  router.add("GET", "/api/v4/clients", [&reg, node](const HttpRequest& r, const Params&) {
    HttpResponse err;
    auto page = read_page(r, err);
    if (!page) return err;
    auto list = reg.list((page->page - 1) * page->limit, page->limit + 1);
    bool hasnext = list.size() > page->limit;
    if (hasnext) list.pop_back();
    json data = json::array();
    for (const auto& c : list) data.push_back(client_json(c, node.node_name));
    json out{{"code", 0}, {"data", data}, {"meta", meta(*page, reg.session_count(), hasnext)}};
    return json_response(200, out);
  });
  router.add("GET", "/api/v4/subscriptions", [&reg, node](const HttpRequest& r, const Params&) {
    HttpResponse err;
    auto page = read_page(r, err);
    if (!page) return err;
    json rows = json::array();
    const std::size_t first = (page->page - 1) * page->limit;
    std::size_t index = 0;
    bool hasnext = false;
    // count is the total number of subscriptions, so every row is counted, not only this page's.
    for (const auto& c : reg.subscriptions(0, static_cast<std::size_t>(-1))) {
      for (const auto& [filter, qos] : c.subscription_list) {
        if (index++ < first) continue;
        if (rows.size() >= page->limit) {
          hasnext = true;
          continue;
        }
        rows.push_back({{"node", node.node_name}, {"clientid", c.client_id}, {"topic", filter}, {"qos", qos}});
      }
    }
    return json_response(200, {{"code", 0}, {"data", rows}, {"meta", meta(*page, index, hasnext)}});
  });
  router.add("POST", "/api/v4/mqtt/publish",
             [&broker](const HttpRequest& r, const Params&) { return publish_handler(broker, r); });

  router.add("GET", "/api/v4/api_keys", [&auth](const HttpRequest&, const Params&) {
    json data = json::array();
    for (const auto& k : auth.list_api_keys())
      data.push_back({{"key", k.key}, {"description", k.description}, {"created_at", k.created_at}});
    return v4_ok(data);
  });
  router.add("POST", "/api/v4/api_keys", [&auth](const HttpRequest& r, const Params&) {
    json body = json::parse(r.body);
    if (!body.is_object() || !body.contains("key") || !body["key"].is_string())
      return v4_error(400, "'key' (string) is required");
    std::string error;
    auto secret = auth.add_api_key(body["key"].get<std::string>(), body.value("description", ""), &error);
    if (!secret) return v4_error(error == "key already exists" ? 409 : 400, error);
    return v4_ok({{"key", body["key"]}, {"secret", *secret}});
  });
  router.add("DELETE", "/api/v4/api_keys/{key}", [&auth](const HttpRequest&, const Params& p) {
    if (!auth.delete_api_key(p.at("key"))) return v4_error(404, "API key not found");
    return json_response(200, {{"code", 0}});
  });

  router.add(
      "GET", "/metrics",
      [&broker, node, options](const HttpRequest&, const Params&) {
        std::string text = render_metrics(broker, node);
        if (options.extra_metrics) text += options.extra_metrics();
        return HttpResponse{200, std::move(text), "text/plain; version=0.0.4; charset=utf-8", {}};
      },
      !options.metrics_auth);
}

}  // namespace tidemq::admin
