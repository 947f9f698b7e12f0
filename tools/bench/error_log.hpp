// Rare events (failures) counted by message, from any thread, for the summary's "error xN:" lines.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tidemq::bench {

// Messages and how often each came, most frequent first.
using ErrorCounts = std::vector<std::pair<std::string, std::uint64_t>>;

class ErrorLog {
 public:
  void add(std::string msg) {
    std::lock_guard lock(m_);
    ++counts_[std::move(msg)];
  }
  ErrorCounts top(std::size_t n) {
    std::lock_guard lock(m_);
    ErrorCounts v(counts_.begin(), counts_.end());
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    if (v.size() > n) v.resize(n);
    return v;
  }

 private:
  std::mutex m_;
  std::map<std::string, std::uint64_t> counts_;
};

}  // namespace tidemq::bench
