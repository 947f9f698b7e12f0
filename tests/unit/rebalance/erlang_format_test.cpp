#include <catch2/catch.hpp>

#include "rebalance/core/erlang_format.hpp"

using namespace tidemq::rebalance;

TEST_CASE("floats print as Erlang's ~p does", "[unit][rebalance][erlang_format]") {
  struct Row {
    double v;
    const char* want;
  };
  const Row rows[] = {
      {504.0, "504.0"},      {1000.0 / 3, "333.3333333333333"},
      {2340.0, "2340.0"},    {2553.3, "2553.3"},
      {1000.0, "1.0e3"},     {2000.0, "2.0e3"},
      {12000.0, "1.2e4"},    {100.0, "100.0"},
      {10.0, "10.0"},        {1.1, "1.1"},
      {0.5, "0.5"},          {0.001, "0.001"},
      {0.0001, "0.0001"},    {0.00001, "1.0e-5"},
      {0.0, "0.0"},          {-1.5, "-1.5"},
      {1e21, "1.0e21"},      {123456789.0, "123456789.0"},
      {1.5e300, "1.5e300"},  {2.0 / 3, "0.6666666666666666"},
  };
  for (const auto& r : rows) {
    INFO(r.want);
    CHECK(erl_float(r.v) == r.want);
  }
}

TEST_CASE("atoms are quoted when Erlang quotes them", "[unit][rebalance][erlang_format]") {
  CHECK(erl_atom("emqx1@127.0.0.1") == "'emqx1@127.0.0.1'");
  CHECK(erl_atom("emqx@localhost") == "emqx@localhost");
  CHECK(erl_atom("nodes") == "nodes");
  CHECK(erl_atom("Node") == "'Node'");
  CHECK(erl_atom("tidemq-1@h") == "'tidemq-1@h'");
  CHECK(erl_atom("case") == "'case'");
  CHECK(erl_atom("it's") == "'it\\'s'");
  CHECK(erl_atom("") == "''");
  CHECK(erl_atom_list({"emqx1@127.0.0.1", "emqx2@127.0.0.1"}) == "['emqx1@127.0.0.1','emqx2@127.0.0.1']");
  CHECK(erl_atom_list({}) == "[]");
}

TEST_CASE("strings and binaries", "[unit][rebalance][erlang_format]") {
  CHECK(erl_string("--nodes") == "\"--nodes\"");
  CHECK(erl_string("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"");
  CHECK(erl_string_list({"x", "y"}) == "[\"x\",\"y\"]");
  CHECK(erl_binary("k") == "<<\"k\">>");
  CHECK(erl_binary(std::string("\x01\x02", 2)) == "<<1,2>>");
}

TEST_CASE("JSON values as jsx decodes and ~p prints them", "[unit][rebalance][erlang_format]") {
  using J = nlohmann::ordered_json;
  CHECK(erl_term(J::parse("1")) == "1");
  CHECK(erl_term(J::parse("-7")) == "-7");
  CHECK(erl_term(J::parse("18446744073709551615")) == "18446744073709551615");
  CHECK(erl_term(J::parse("1.5")) == "1.5");
  CHECK(erl_term(J::parse("1e3")) == "1.0e3");
  CHECK(erl_term(J::parse("\"s\"")) == "<<\"s\">>");
  CHECK(erl_term(J::parse("true")) == "true");
  CHECK(erl_term(J::parse("null")) == "null");
  CHECK(erl_term(J::parse("[]")) == "[]");
  CHECK(erl_term(J::parse("[1,2]")) == "[1,2]");
  CHECK(erl_term(J::parse("[104,105]")) == "\"hi\"");  // a printable list is a string to ~p
  CHECK(erl_term(J::parse("{}")) == "[{}]");
  CHECK(erl_term(J::parse(R"({"b":1,"a":[true,"x"]})")) == R"([{<<"b">>,1},{<<"a">>,[true,<<"x">>]}])");
}

TEST_CASE("erl_term is bounded in depth and length (it echoes what anyone sent)", "[unit][rebalance][erlang_format]") {
  nlohmann::ordered_json deep = 1;
  for (int i = 0; i < 20000; ++i) deep = nlohmann::ordered_json{{"a", std::move(deep)}};
  const std::string text = erl_term(deep);
  CHECK(text.size() <= kErlTermMaxLength + 3);
  CHECK(text.find(",...}") != std::string::npos);  // cut at kErlTermMaxDepth, closed
  CHECK(text.starts_with(R"([{<<"a">>,[{<<"a">>,)"));
  nlohmann::ordered_json wide = nlohmann::ordered_json::array();
  for (int i = 0; i < 100000; ++i) wide.push_back(-i);
  CHECK(erl_term(wide).size() == kErlTermMaxLength + 3);
  nlohmann::ordered_json three = nlohmann::ordered_json::array({nlohmann::ordered_json::array({nlohmann::ordered_json::array({-1})})});
  CHECK(erl_term(three) == "[[[-1]]]");  // small values are whole
}
