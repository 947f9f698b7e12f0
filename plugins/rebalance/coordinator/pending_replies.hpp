// The start and stop requests a coordinator has handed to its state machine and not yet
// answered, shared by both coordinators. The machine answers them with cmd::Reply; a request
// the machine answers at once can be checked with expect_answered(). Control thread only.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "rebalance/core/fsm_io.hpp"

namespace tidemq::rebalance {

class PendingReplies {
 public:
  using ReplyFn = std::function<void(boost::system::error_code)>;

  // Holds `reply` until the machine answers `request`. A request of the same kind held before
  // stays held: the machine answers the newest first (a second start that it refuses at once
  // while the first one runs), so neither reply is lost.
  void hold(Request request, ReplyFn reply);

  // cmd::Reply: answers the newest held `request` with `ec`; false when none is held.
  bool answer(Request request, boost::system::error_code ec);

  // For a request the machine answers within the same event: when `request` is still held, the
  // machine failed to answer it (a bug), so logs an error naming `process` and answers it with an
  // error rather than pretending it succeeded.
  void expect_answered(Request request, std::string_view process);

  bool holds(Request request) const { return !held(request).empty(); }

 private:
  std::vector<ReplyFn>& held(Request request) { return request == Request::start ? start_ : stop_; }
  const std::vector<ReplyFn>& held(Request request) const { return request == Request::start ? start_ : stop_; }

  std::vector<ReplyFn> start_, stop_;
};

}  // namespace tidemq::rebalance
