#include "core/hooks.hpp"

#include <algorithm>

namespace tidemq::core {

Hooks::Handle Hooks::add_admission(int priority, AdmissionHook hook) {
  std::lock_guard lk(mu_);
  Handle h = next_handle_++;
  chain_.push_back(Entry{priority, h, std::move(hook)});
  std::stable_sort(chain_.begin(), chain_.end(), [](const Entry& a, const Entry& b) { return a.priority < b.priority; });
  publish_locked();
  return h;
}

void Hooks::remove_admission(Handle h) {
  std::lock_guard lk(mu_);
  std::erase_if(chain_, [h](const Entry& e) { return e.handle == h; });
  publish_locked();
}

void Hooks::publish_locked() { admission_.set(std::make_unique<const Chain>(chain_)); }

std::optional<AdmissionRefusal> Hooks::run_admission(const AdmissionRequest& req) const {
  const Chain* chain = admission_.get();
  if (!chain) return std::nullopt;
  for (const auto& e : *chain)
    if (auto refusal = e.hook(req)) return refusal;
  return std::nullopt;
}

void Hooks::set_authenticate(AuthenticateHook h) {
  authenticate_.set(h ? std::make_unique<const AuthenticateHook>(std::move(h)) : nullptr);
}

void Hooks::set_authorize(AuthorizeHook h) {
  authorize_.set(h ? std::make_unique<const AuthorizeHook>(std::move(h)) : nullptr);
}

std::optional<std::uint8_t> Hooks::run_authenticate(const AuthRequest& req) const {
  const AuthenticateHook* h = authenticate_.get();
  return h ? (*h)(req) : std::nullopt;
}

AclDecision Hooks::run_authorize(const AclRequest& req) const {
  const AuthorizeHook* h = authorize_.get();
  return h ? (*h)(req) : AclDecision::allow;
}

}  // namespace tidemq::core
