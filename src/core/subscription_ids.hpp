// The Subscription Identifiers one delivery carries. MQTT 5 §3.3.4: a single copy for several
// matching subscriptions carries the identifiers of all of them. Almost always there are none or
// one; that one sits inline (no allocation on the delivery path). Two or more go to the heap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace tidemq::core {

class SubscriptionIds {
 public:
  SubscriptionIds() = default;
  explicit SubscriptionIds(std::uint32_t id) : one_(id) {}
  explicit SubscriptionIds(std::span<const std::uint32_t> ids) {
    for (auto id : ids) add(id);
  }
  SubscriptionIds(const SubscriptionIds& o)
      : one_(o.one_), many_(o.many_ ? std::make_unique<std::vector<std::uint32_t>>(*o.many_) : nullptr) {}
  SubscriptionIds& operator=(const SubscriptionIds& o) {
    if (this != &o) *this = SubscriptionIds(o);
    return *this;
  }
  SubscriptionIds(SubscriptionIds&&) noexcept = default;
  SubscriptionIds& operator=(SubscriptionIds&&) noexcept = default;

  // 0 means "no identifier" (identifiers are 1..268435455) and is ignored.
  void add(std::uint32_t id) {
    if (id == 0) return;
    if (many_) {
      many_->push_back(id);
    } else if (one_ == 0) {
      one_ = id;
    } else {
      many_ = std::make_unique<std::vector<std::uint32_t>>(std::initializer_list<std::uint32_t>{one_, id});
    }
  }

  std::span<const std::uint32_t> view() const {
    if (many_) return *many_;
    if (one_) return {&one_, 1};
    return {};
  }
  bool empty() const { return one_ == 0; }
  std::size_t size() const { return many_ ? many_->size() : (one_ ? 1 : 0); }

  friend bool operator==(const SubscriptionIds& a, const SubscriptionIds& b) {
    return std::ranges::equal(a.view(), b.view());
  }

 private:
  std::uint32_t one_ = 0;                              // the first identifier; 0 = none
  std::unique_ptr<std::vector<std::uint32_t>> many_;  // all of them, once there are two or more
};

}  // namespace tidemq::core
