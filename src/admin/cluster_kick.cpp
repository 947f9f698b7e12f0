#include "admin/cluster_kick.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace tidemq::admin {

using nlohmann::json;

namespace {

constexpr const char* kKickMethod = "client.kick.v1";

// The session can leave its node between the lookup and the kick (a takeover, a migration): the
// lookup is tried again, a bounded number of times.
constexpr int kAttempts = 2;

// A call that got no answer at all (the node is down, unknown or too slow), as opposed to an
// error the other node answered.
bool unanswered(const std::string& error) {
  return error == "no answer in time" || error.starts_with("node ") || error.starts_with("unknown node ");
}

HttpResponse kicked() { return json_response(200, {{"code", 0}}); }

HttpResponse not_found() { return v4_error(404, "client not found"); }

void kick_anywhere(cluster::Cluster& cluster, core::Broker& broker, const std::string& cid, int attempts_left,
                   Reply reply) {
  if (broker.registry().discard_session(cid)) return reply(kicked());
  cluster.find_client(cid, [&cluster, &broker, cid, attempts_left, reply](std::string owner, std::string error) {
    if (!error.empty()) return reply(v4_error(503, "cannot find the client's node: " + error + "; retry later"));
    if (owner.empty()) return reply(not_found());
    if (owner == cluster.self()) {  // registered here but gone by now: it may have moved on
      if (attempts_left > 1) return kick_anywhere(cluster, broker, cid, attempts_left - 1, reply);
      return reply(not_found());
    }
    cluster.call(owner, kKickMethod, json{{"c", cid}},
                 [&cluster, &broker, cid, attempts_left, reply, owner](std::optional<json> r, std::string error) {
                   if (!r) {
                     if (unanswered(error))
                       return reply(v4_error(503, fmt::format("node {} holds the client but did not answer: {}; "
                                                              "the kick may still happen there, check and retry",
                                                              owner, error)));
                     return reply(v4_error(502, fmt::format("node {} could not kick the client: {}", owner, error)));
                   }
                   if (r->is_object() && r->value("kicked", false)) return reply(kicked());
                   if (attempts_left > 1) return kick_anywhere(cluster, broker, cid, attempts_left - 1, reply);
                   reply(not_found());
                 });
  });
}

}  // namespace

void register_cluster_kick(Router& router, cluster::Cluster& cluster, core::Broker& broker) {
  cluster.register_method(kKickMethod, [&broker](const json& a) -> json {
    if (!a.is_object() || !a.contains("c") || !a["c"].is_string())
      throw std::invalid_argument(std::string(kKickMethod) + ": 'c' (the client id, a string) is required");
    return json{{"kicked", broker.registry().discard_session(a["c"].get<std::string>())}};
  });
  router.add_async("DELETE", "/api/v4/clients/{clientid}",
                   [&cluster, &broker](const HttpRequest&, const Params& p, Reply reply) {
                     kick_anywhere(cluster, broker, p.at("clientid"), kAttempts, std::move(reply));
                   });
}

}  // namespace tidemq::admin
