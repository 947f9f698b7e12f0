// Expanding topic patterns ("%i", "%c") and the wildcard filter that matches all their expansions.
#include "topic_pattern.hpp"

namespace tidemq::bench {

std::string expand(const std::string& pattern, long index, const std::string& client_id) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'i') {
        out += std::to_string(index);
        ++i;
        continue;
      }
      if (pattern[i + 1] == 'c') {
        out += client_id;
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

std::string wildcard_of(const std::string& pattern) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = pattern.find('/', start);
    std::string level = pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (level.find("%i") != std::string::npos || level.find("%c") != std::string::npos) level = "+";
    out += level;
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

}  // namespace tidemq::bench
