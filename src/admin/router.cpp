#include "admin/router.hpp"

#include <boost/beast/core/detail/base64.hpp>

namespace tidemq::admin {

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> decode_base64(std::string_view s) {
  namespace b = boost::beast::detail::base64;
  // decode() expects padded input: of an unpadded tail (2 or 3 characters) it writes 1 or 2 bytes
  // more than decoded_size(s.size()), so the buffer is sized for the input padded to a multiple of 4.
  std::string out(b::decoded_size(s.size() + 3), '\0');
  auto [written, read] = b::decode(out.data(), s.data(), s.size());
  if (read != s.find_last_not_of('=') + 1) return std::nullopt;  // decode() stops at the padding
  out.resize(written);
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(url_decode(path.substr(start, end - start), false));
    start = end + 1;
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, Handler h, bool is_public) {
  std::vector<std::string> segs;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    auto end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    if (end > start) segs.emplace_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  routes_.push_back(Route{std::move(method), std::move(segs), std::move(h), {}, is_public});
}

void Router::add_async(std::string method, std::string_view pattern, AsyncHandler h, bool is_public) {
  add(std::move(method), pattern, nullptr, is_public);
  routes_.back().async_handler = std::move(h);
}

Router::Match Router::match(const std::string& method, const std::string& raw_path) const {
  // Split the raw path first and decode each segment, so an encoded '/' stays inside its segment.
  std::vector<std::string> segs = split_path(raw_path);
  Match m;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    Params p;
    bool ok = true;
    for (std::size_t i = 0; i < segs.size() && ok; ++i) {
      const std::string& pat = r.segments[i];
      if (pat.size() > 2 && pat.front() == '{' && pat.back() == '}')
        p[pat.substr(1, pat.size() - 2)] = segs[i];
      else
        ok = pat == segs[i];
    }
    if (!ok) continue;
    m.path_known = true;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(p);
      return m;
    }
  }
  return m;
}

}  // namespace tidemq::admin
