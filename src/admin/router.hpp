// Path templates ("/api/v4/clients/{clientid}") → handlers, with per-route public/protected flag.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "admin/http_types.hpp"

namespace tidemq::admin {

using Handler = std::function<HttpResponse(const HttpRequest&, const Params&)>;
// A handler that answers later (it asks other cluster nodes): calls `reply` once, from any thread.
using Reply = std::function<void(HttpResponse)>;
using AsyncHandler = std::function<void(const HttpRequest&, const Params&, Reply reply)>;

class Router {
 public:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" captures one segment
    Handler handler;
    AsyncHandler async_handler;  // set instead of handler
    bool is_public = false;
  };
  struct Match {
    const Route* route = nullptr;
    Params params;
    bool path_known = false;  // some route has this path (for 405)
  };

  void add(std::string method, std::string_view pattern, Handler h, bool is_public = false);
  void add_async(std::string method, std::string_view pattern, AsyncHandler h, bool is_public = false);
  Match match(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

std::vector<std::string> split_path(std::string_view path);

}  // namespace tidemq::admin
