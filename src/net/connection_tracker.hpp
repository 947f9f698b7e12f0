// Every live connection of the node, including those that have not sent CONNECT yet, so that
// shutdown can tell each one to go and wait until they have.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/session.hpp"

namespace tidemq::net {

class ConnectionTracker {
 public:
  void add(const core::SessionOwner* key, std::weak_ptr<core::SessionOwner> c) {
    std::lock_guard lk(mu_);
    live_.emplace(key, std::move(c));
  }
  void remove(const core::SessionOwner* key) {
    std::lock_guard lk(mu_);
    live_.erase(key);
  }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return live_.size();
  }
  void kick_all(const core::DisconnectInfo& why) {
    std::vector<std::shared_ptr<core::SessionOwner>> all;
    {
      std::lock_guard lk(mu_);
      for (auto& [_, w] : live_)
        if (auto c = w.lock()) all.push_back(std::move(c));
    }
    for (auto& c : all) c->kick(why);
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<const core::SessionOwner*, std::weak_ptr<core::SessionOwner>> live_;
};

}  // namespace tidemq::net
