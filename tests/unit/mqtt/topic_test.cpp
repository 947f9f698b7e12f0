// Topic names, topic filters, matching and shared subscriptions (MQTT 5.0 §4.7, §4.8.2).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tidemq/mqtt/topic.hpp"

using namespace tidemq::mqtt;

TEST_CASE("valid_topic_name", "[unit][mqtt][topic]") {
  SECTION("valid names") {
    for (const std::string& t : {std::string("a"), std::string("a/b/c"), std::string("/"), std::string("/a"),
                                 std::string("a/"), std::string("a//b"), std::string("//"), std::string(" "),
                                 std::string("$SYS/broker/uptime"), std::string("sport/tennis/player1"),
                                 std::string("caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80"),
                                 std::string("a$b"), std::string(65535, 'x')}) {
      CAPTURE(t.substr(0, 40), t.size());
      CHECK(valid_topic_name(t));
    }
  }
  SECTION("empty") { CHECK_FALSE(valid_topic_name("")); }
  SECTION("wildcards anywhere") {
    for (const char* t : {"#", "+", "a/#", "a/+", "a/+/b", "a+", "+a", "a#b", "sport/tennis/#", "$SYS/#"}) {
      CAPTURE(t);
      CHECK_FALSE(valid_topic_name(t));
    }
  }
  SECTION("invalid UTF-8 and U+0000") {
    for (const std::string& t : {std::string("a\0b", 3), std::string("\xC0\x80"), std::string("\xED\xA0\x80"),
                                 std::string("\xFF"), std::string("a/\xC3"), std::string("\xF4\x90\x80\x80")}) {
      CHECK_FALSE(valid_topic_name(t));
    }
  }
  SECTION("longer than a UTF-8 string can be") { CHECK_FALSE(valid_topic_name(std::string(65536, 'x'))); }
}

TEST_CASE("valid_topic_filter", "[unit][mqtt][topic]") {
  SECTION("valid filters") {
    for (const char* f : {"#", "+", "a/#", "a/+/b", "+/+", "/", "a", "a/b/c", "+/#", "/+", "+/", "//", "a//b",
                          "sport/tennis/player1/#", "sport/+/player1", "+/tennis/#", "$SYS/#", "$SYS/+",
                          "caf\xC3\xA9/+", "/#", "a/b/+/+/#"}) {
      CAPTURE(f);
      CHECK(valid_topic_filter(f));
    }
  }
  SECTION("invalid filters") {
    for (const char* f : {"", "a#", "a/#/b", "a+", "+a", "#/", "#/a", "a/b#", "a/+b", "sport/tennis#",
                          "sport+", "##", "++", "+#", "#+", "a/#/#", "a/b/c#"}) {
      CAPTURE(f);
      CHECK_FALSE(valid_topic_filter(f));
    }
  }
  SECTION("invalid UTF-8") {
    CHECK_FALSE(valid_topic_filter(std::string("a/\0", 3)));
    CHECK_FALSE(valid_topic_filter(std::string("\xC0\x80/#")));
    CHECK_FALSE(valid_topic_filter(std::string("\xED\xB0\x80")));
  }
  SECTION("length") {
    CHECK(valid_topic_filter(std::string(65535, 'x')));
    CHECK_FALSE(valid_topic_filter(std::string(65536, 'x')));
  }
}

TEST_CASE("topic_matches", "[unit][mqtt][topic]") {
  struct Case {
    const char* filter;
    const char* topic;
    bool match;
  };
  const std::vector<Case> cases = {
      // MQTT 5.0 §4.7.1.2 multi-level wildcard examples
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/tennis/player1/#", "sport/tennis/player2", false},
      {"sport/tennis/player1/#", "sport/tennis", false},
      {"sport/#", "sport", true},
      {"sport/#", "sport/", true},
      {"sport/#", "sports", false},
      {"sport/#", "sport/tennis/player1", true},
      {"#", "sport", true},
      {"#", "sport/tennis", true},
      {"#", "/", true},
      {"#", "/finance", true},
      // §4.7.1.3 single-level wildcard examples
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player2", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+", "a", true},
      {"+", "a/b", false},
      {"+/tennis/#", "sport/tennis/player1", true},
      {"+/tennis/#", "sport/tennis", true},
      {"+/tennis/#", "sport/golf", false},
      {"sport/+/player1", "sport/tennis/player1", true},
      {"sport/+/player1", "sport/tennis/player2", false},
      // empty levels
      {"a/+/b", "a//b", true},
      {"a//b", "a//b", true},
      {"a//b", "a/b", false},
      {"a/+/b", "a/b", false},
      {"+/+/+", "//", true},
      {"+", "", true},
      {"/", "/", true},
      {"a/", "a", false},
      {"a", "a/", false},
      {"a/+", "a", false},
      {"a/+/#", "a", false},
      {"a/+/#", "a/b", true},
      {"a/+/#", "a/b/c/d", true},
      {"+/#", "a", true},
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      // exact, case sensitive, UTF-8
      {"a/b/c", "a/b/c", true},
      {"a/b/c", "a/b", false},
      {"a/b", "a/b/c", false},
      {"ACCOUNTS", "Accounts", false},
      {"caf\xC3\xA9/+", "caf\xC3\xA9/x", true},
      {"caf\xC3\xA9/+", "cafe/x", false},
      // §4.7.2 topics beginning with $
      {"#", "$SYS/x", false},
      {"#", "$SYS", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"+", "$SYS", false},
      {"+/#", "$SYS/x", false},
      {"$SYS/#", "$SYS/x", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
      {"$SYS/#", "$SYSTEM/x", false},
      {"a/#", "a/$b", true},
      {"+/b", "a$/b", true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.filter, c.topic);
    CHECK(topic_matches(c.filter, c.topic) == c.match);
  }
}

TEST_CASE("topic_matches agrees with a level-by-level reference", "[unit][mqtt][topic]") {
  // Exhaustive over small filters/topics built from the levels below; the reference splits on '/'.
  auto split = [](std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
      std::size_t end = s.find('/', start);
      out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      if (end == std::string_view::npos) return out;
      start = end + 1;
    }
  };
  auto reference = [&](std::string_view filter, std::string_view topic) {
    if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#')) return false;
    auto f = split(filter), t = split(topic);
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] == "#") return true;  // i == f.size() - 1 for a valid filter; matches the parent too
      if (i >= t.size()) return false;
      if (f[i] != "+" && f[i] != t[i]) return false;
    }
    return f.size() == t.size();
  };
  const std::vector<std::string> flevels = {"a", "b", "", "+", "$x"};
  const std::vector<std::string> tlevels = {"a", "b", "", "$x"};
  std::vector<std::string> filters, topics;
  std::vector<std::string> fcur = {""};
  for (int depth = 1; depth <= 3; ++depth) {
    std::vector<std::string> next;
    for (const auto& prefix : fcur)
      for (const auto& l : flevels) next.push_back(depth == 1 ? l : prefix + "/" + l);
    for (const auto& f : next) {
      filters.push_back(f);
      filters.push_back(f + "/#");
    }
    fcur = next;
  }
  filters.push_back("#");
  std::vector<std::string> tcur = {""};
  for (int depth = 1; depth <= 4; ++depth) {
    std::vector<std::string> next;
    for (const auto& prefix : tcur)
      for (const auto& l : tlevels) next.push_back(depth == 1 ? l : prefix + "/" + l);
    for (const auto& t : next) topics.push_back(t);
    tcur = next;
  }
  int mismatches = 0;
  std::string first;
  for (const auto& f : filters) {
    if (!valid_topic_filter(f)) continue;
    for (const auto& t : topics) {
      if (t.empty()) continue;
      if (topic_matches(f, t) != reference(f, t)) {
        if (mismatches++ == 0) first = "filter '" + f + "' topic '" + t + "'";
      }
    }
  }
  INFO("first mismatch: " << first);
  CHECK(mismatches == 0);
}

TEST_CASE("parse_shared", "[unit][mqtt][topic]") {
  SECTION("a shared subscription") {
    auto s = parse_shared("$share/g/a/b");
    REQUIRE(s.has_value());
    CHECK(s->group == "g");
    CHECK(s->filter == "a/b");
  }
  SECTION("wildcards in the filter part") {
    auto s = parse_shared("$share/consumers/sport/+/player1/#");
    REQUIRE(s.has_value());
    CHECK(s->group == "consumers");
    CHECK(s->filter == "sport/+/player1/#");
    s = parse_shared("$share/g/#");
    REQUIRE(s.has_value());
    CHECK(s->group == "g");
    CHECK(s->filter == "#");
    s = parse_shared("$share/g//");
    REQUIRE(s.has_value());
    CHECK(s->group == "g");
    CHECK(s->filter == "/");
  }
  SECTION("invalid shared subscriptions come back with an empty group") {
    for (const char* f : {"$share/g", "$share/", "$share//a", "$share/g+/a", "$share/+/a", "$share/#/a",
                          "$share/g#/a", "$share/g/"}) {
      CAPTURE(f);
      auto s = parse_shared(f);
      REQUIRE(s.has_value());
      CHECK(s->group.empty());
    }
  }
  SECTION("not shared") {
    for (const char* f : {"a/b", "#", "+", "share/g/a", "$SYS/#", "$shared/g/a", "$SHARE/g/a", "/$share/g/a"}) {
      CAPTURE(f);
      CHECK_FALSE(parse_shared(f).has_value());
    }
  }
}
