#include <catch2/catch.hpp>

#include <vector>

#include "rebalance/coordinator/pending_replies.hpp"
#include "rebalance/core/rebalance_errc.hpp"

using tidemq::rebalance::PendingReplies;
using tidemq::rebalance::RebalanceErrc;
using tidemq::rebalance::Request;

namespace {

// Records what each reply was answered with, by name.
struct Answers {
  std::vector<std::pair<std::string, boost::system::error_code>> got;
  PendingReplies::ReplyFn reply(std::string name) {
    return [this, name](boost::system::error_code ec) { got.emplace_back(name, ec); };
  }
};

}  // namespace

TEST_CASE("pending replies: a Reply answers the held request of its kind once", "[unit][rebalance][replies]") {
  PendingReplies replies;
  Answers a;
  replies.hold(Request::start, a.reply("start"));
  replies.hold(Request::stop, a.reply("stop"));
  CHECK(replies.answer(Request::stop, {}));
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].first == "stop");
  CHECK(!a.got[0].second);
  CHECK(replies.holds(Request::start));
  CHECK(!replies.holds(Request::stop));

  CHECK(replies.answer(Request::start, RebalanceErrc::cancelled));
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].first == "start");
  CHECK(a.got[1].second == RebalanceErrc::cancelled);
  CHECK(!replies.answer(Request::start, {}));  // nothing held: a stale Reply
  CHECK(a.got.size() == 2);
}

TEST_CASE("pending replies: a second start refused at once does not lose the first", "[unit][rebalance][replies]") {
  PendingReplies replies;
  Answers a;
  replies.hold(Request::start, a.reply("first"));   // still counting the nodes
  replies.hold(Request::start, a.reply("second"));  // the machine refuses it at once
  CHECK(replies.answer(Request::start, RebalanceErrc::already_started));
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].first == "second");
  CHECK(a.got[0].second == RebalanceErrc::already_started);
  CHECK(replies.answer(Request::start, {}));  // the first run started
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].first == "first");
  CHECK(!a.got[1].second);
}

TEST_CASE("pending replies: a request the machine did not answer gets an error, not ok", "[unit][rebalance][replies]") {
  PendingReplies replies;
  Answers a;
  replies.hold(Request::start, a.reply("start"));
  replies.expect_answered(Request::start, "evacuation");
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].second);  // an error
  CHECK(!replies.holds(Request::start));

  replies.hold(Request::stop, a.reply("stop"));
  replies.answer(Request::stop, {});
  replies.expect_answered(Request::stop, "evacuation");  // answered: nothing more
  REQUIRE(a.got.size() == 2);
  CHECK(!a.got[1].second);
}

TEST_CASE("pending replies: a reply may hold the next request", "[unit][rebalance][replies]") {
  PendingReplies replies;
  Answers a;
  replies.hold(Request::stop, [&](boost::system::error_code) { replies.hold(Request::stop, a.reply("next")); });
  CHECK(replies.answer(Request::stop, {}));
  CHECK(replies.holds(Request::stop));
  CHECK(replies.answer(Request::stop, {}));
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].first == "next");
}
