#include "rebalance/coordinator/pending_replies.hpp"

#include <boost/system/errc.hpp>

#include "rebalance/coordinator/command_log.hpp"

namespace tidemq::rebalance {

void PendingReplies::hold(Request request, ReplyFn reply) { held(request).push_back(std::move(reply)); }

bool PendingReplies::answer(Request request, boost::system::error_code ec) {
  auto& replies = held(request);
  if (replies.empty()) return false;
  auto reply = std::move(replies.back());
  replies.pop_back();  // before calling it: the reply may start the next request
  reply(ec);
  return true;
}

void PendingReplies::expect_answered(Request request, std::string_view process) {
  if (!holds(request)) return;
  const char* what = request == Request::start ? "start" : "stop";
  rebalance_logger()->error("{} {}: the state machine did not answer; answering with an error", process, what);
  answer(request, boost::system::errc::make_error_code(boost::system::errc::state_not_recoverable));
}

}  // namespace tidemq::rebalance
