// Hook chains that other layers and plugins attach to. Hooks run on data threads for every
// CONNECT, PUBLISH and SUBSCRIBE, so they are read through immutable published versions: one
// atomic pointer load, no lock, no reference count on the hot path.
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

// Authentication, after admission: nullopt accepts, a value is the v5 CONNACK reason code
// (0x86 bad user name or password, 0x87 not authorized, ...).
struct AuthRequest {
  const ClientId& client_id;
  const std::optional<std::string>& username;
  const std::optional<std::string>& password;
  const std::string& peer_address;
  std::uint8_t protocol_level;
};
using AuthenticateHook = std::function<std::optional<std::uint8_t>(const AuthRequest&)>;

// Authorization of one PUBLISH or SUBSCRIBE.
enum class AclAction { publish, subscribe };
enum class AclDecision { allow, deny, deny_and_disconnect };
struct AclRequest {
  const ClientId& client_id;
  const std::optional<std::string>& username;
  const std::string& peer_address;
  AclAction action;
  std::string_view topic;  // topic name, or the filter as subscribed
};
using AuthorizeHook = std::function<AclDecision(const AclRequest&)>;

// A value replaced rarely and read on hot paths. Replaced versions are kept (not freed) until the
// owner goes, so a reader's raw pointer stays valid; hooks change a handful of times per run.
template <class T>
class Published {
 public:
  const T* get() const { return current_.load(std::memory_order_acquire); }
  void set(std::unique_ptr<const T> v) {
    std::lock_guard lk(mu_);
    current_.store(v.get(), std::memory_order_release);
    if (v) versions_.push_back(std::move(v));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<const T>> versions_;
  std::atomic<const T*> current_{nullptr};
};

class Hooks {
 public:
  using Handle = std::uint64_t;

  // Lower priority runs first; the first refusal wins.
  Handle add_admission(int priority, AdmissionHook hook);
  void remove_admission(Handle h);
  std::optional<AdmissionRefusal> run_admission(const AdmissionRequest& req) const;

  // One authenticator and one authorizer per node (the auth module); unset means allow all.
  void set_authenticate(AuthenticateHook h);
  void set_authorize(AuthorizeHook h);
  std::optional<std::uint8_t> run_authenticate(const AuthRequest& req) const;
  AclDecision run_authorize(const AclRequest& req) const;

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
  Published<Chain> admission_;
  Published<AuthenticateHook> authenticate_;
  Published<AuthorizeHook> authorize_;
};

}  // namespace tidemq::core
