// --wait-routes: a minimal HTTP GET of the admin API and looking for the filters in the answer.
#include "route_wait.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "clock.hpp"
#include "report_format.hpp"

namespace tidemq::bench {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::uint64_t kPollInterval = 50 * kMs;

std::string base64(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                            static_cast<std::uint8_t>(in[i + 2]);
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], kTab[(v >> 6) & 63], kTab[v & 63]};
  }
  if (i + 1 == in.size()) {
    const std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8);
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], kTab[(v >> 6) & 63], '='};
  }
  return out;
}

// http://user:secret@host → http://user:***@host
std::string redact(const std::string& url) {
  const std::size_t start = url.find("://"), at = url.find('@');
  if (start == std::string::npos || at == std::string::npos || at < start) return url;
  const std::size_t colon = url.find(':', start + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// A minimal HTTP/1.1 GET (plain http only, "Connection: close", user:password@ → basic auth).
// Fills `body` on a 2xx answer; bounded by a 2 s timeout.
bool http_get(const std::string& url, std::string& body, std::string& err, int& status) {
  status = 0;
  std::string rest = url;
  if (rest.rfind("http://", 0) != 0) {
    err = "only http:// URLs";
    return false;
  }
  rest = rest.substr(7);
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string auth;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    auth = base64(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  try {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    tcp::resolver r(ioc);
    std::string req = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", path, authority);
    if (!auth.empty()) req += "Authorization: Basic " + auth + "\r\n";
    req += "\r\n";
    std::string resp;
    error_code result = asio::error::timed_out;
    bool finished = false;
    asio::async_connect(sock, r.resolve(host, port), [&](const error_code& ec, const tcp::endpoint&) {
      if (ec) {
        result = ec;
        finished = true;
        return;
      }
      asio::async_write(sock, asio::buffer(req), [&](const error_code& ec2, std::size_t) {
        if (ec2) {
          result = ec2;
          finished = true;
          return;
        }
        asio::async_read(sock, asio::dynamic_buffer(resp), [&](const error_code& ec3, std::size_t) {
          result = ec3 == asio::error::eof ? error_code{} : ec3;
          finished = true;
        });
      });
    });
    ioc.run_for(std::chrono::seconds(2));
    if (!finished) {
      err = fmt::format("GET {}: timeout", redact(url));
      return false;
    }
    if (result) {
      err = fmt::format("GET {}: {}", redact(url), result.message());
      return false;
    }
    const std::size_t sp = resp.find(' ');
    const std::size_t hdr_end = resp.find("\r\n\r\n");
    if (sp == std::string::npos || hdr_end == std::string::npos) {
      err = fmt::format("GET {}: not an HTTP answer", redact(url));
      return false;
    }
    status = std::atoi(resp.c_str() + sp + 1);
    if (status < 200 || status > 299) {
      err = fmt::format("GET {}: HTTP {}", redact(url), status);
      return false;
    }
    body = resp.substr(hdr_end + 4);  // chunked framing, if any, does not hide a "topic":"..." match
    return true;
  } catch (const std::exception& e) {
    err = fmt::format("GET {}: {}", redact(url), e.what());
    return false;
  }
}

}  // namespace

RouteWait::RouteWait(std::string url, const std::vector<ConnSpec>& subs) : url_(std::move(url)) {
  for (const auto& sp : subs) needles_.push_back("\"topic\":" + json_string(sp.topic));
  std::sort(needles_.begin(), needles_.end());
  needles_.erase(std::unique(needles_.begin(), needles_.end()), needles_.end());
  missing_ = needles_.size();
}

bool RouteWait::poll() {
  const std::uint64_t now = now_ns();
  if (now - last_poll_ < kPollInterval) return false;
  last_poll_ = now;
  std::string body;
  int status = 0;
  if (!http_get(url_, body, err_, status)) {
    return status == 401 || status == 403 || status == 404 || status == 429;
  }
  err_.clear();
  missing_ = 0;
  for (const auto& n : needles_)
    if (body.find(n) == std::string::npos) ++missing_;
  return missing_ == 0;
}

void RouteWait::report(double waited_ms, bool quiet) const {
  if (missing_)
    fmt::print(stderr, "tidemq_bench: warning: {} of {} subscriber filters not in {} after {:.0f} ms{}{}\n", missing_,
               needles_.size(), redact(url_), waited_ms, err_.empty() ? "" : ": ", err_);
  else if (!quiet)
    fmt::print("routes: all {} subscriber filters visible after {:.0f} ms\n", needles_.size(), waited_ms);
}

}  // namespace tidemq::bench
