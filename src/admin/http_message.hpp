// Between Beast's HTTP messages and the router's HttpRequest / HttpResponse: what the admin server
// does with what it reads and before it writes, shared by the server (http_server.cpp) and the
// fuzz target that drives the same path without sockets. Include only where Beast is used anyway.
#pragma once

#include <string>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/http_types.hpp"

namespace tidemq::admin {

// Method, path, decoded query, body, Authorization and Content-Type, and the peer's address.
HttpRequest to_request(const boost::beast::http::request<boost::beast::http::string_body>& r, const std::string& peer_ip);

boost::beast::http::response<boost::beast::http::string_body> to_beast(const HttpResponse& res, unsigned version,
                                                                        bool keep_alive);

// The answer to a request that could not be read: 413 for an oversized body, else 400.
HttpResponse unreadable_request(const boost::beast::error_code& ec);

}  // namespace tidemq::admin
