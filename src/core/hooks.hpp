// Hook chains that other layers and plugins attach to. The admission chain runs on data threads
// for every CONNECT, before authentication, so it is read through an immutable snapshot
// (no lock on the CONNECT path); adding or removing a hook publishes a new snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "tidemq/core/types.hpp"

namespace tidemq::core {

using AdmissionHook = std::function<std::optional<AdmissionRefusal>(const AdmissionRequest&)>;

class Hooks {
 public:
  using Handle = std::uint64_t;

  // Lower priority runs first; the first refusal wins.
  Handle add_admission(int priority, AdmissionHook hook);
  void remove_admission(Handle h);
  std::optional<AdmissionRefusal> run_admission(const AdmissionRequest& req) const;

 private:
  struct Entry {
    int priority;
    Handle handle;
    AdmissionHook hook;
  };
  using Chain = std::vector<Entry>;
  void publish_locked();

  std::mutex mu_;
  Chain chain_;
  Handle next_handle_ = 1;
  std::atomic<std::shared_ptr<const Chain>> snapshot_{std::make_shared<const Chain>()};
};

}  // namespace tidemq::core
