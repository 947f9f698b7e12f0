// pubsub --wait-routes: in a cluster, a node forwards to a remote subscriber only once the
// subscriber's route has reached it, some time after the SUBACK. This polls the publishers' node's
// admin API (GET http://user:pass@host:port/api/v4/routes) until every subscriber filter is in the
// answer as a "topic".
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ctl/http_client.hpp"
#include "load_plan.hpp"

namespace tidemq::bench {

class RouteWait {
 public:
  // `url`: http://[user:password@]host[:port][/path]; without user:password no credentials are sent.
  RouteWait(std::string url, const std::vector<ConnSpec>& subs);

  // Polls unless the last poll is less than 50 ms ago. True when every filter is routed, or when
  // polling on is pointless: wrong credentials or URL (HTTP 401, 403, 404) would only get the
  // address locked out (HTTP 429).
  bool poll();

  std::size_t missing() const { return missing_; }

  // After waiting `waited_ms`: "routes: all N subscriber filters visible ..." (unless `quiet`), or a
  // warning on stderr naming what is missing and the last error.
  void report(double waited_ms, bool quiet) const;

 private:
  std::string url_;        // as given; messages show it with the password redacted
  ctl::Target target_;
  std::string path_;
  std::string url_error_;  // the URL cannot be used: every poll fails with this
  std::set<std::string> filters_;
  std::size_t missing_;
  std::uint64_t last_poll_ = 0;
  std::string err_;        // why the last poll failed
};

}  // namespace tidemq::bench
