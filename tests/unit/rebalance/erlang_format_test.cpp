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

TEST_CASE("lists wrap at 80 columns as io_lib_pretty wraps them", "[unit][rebalance][erlang_format]") {
  const std::vector<std::string> nodes = {"'tidemq2@127.0.0.2'", "'tidemq3@127.0.0.3'", "'tidemq4@127.0.0.4'",
                                          "'tidemq5@127.0.0.5'", "'tidemq6@127.0.0.6'"};
  const std::string head = "Session recipient  nodes: ";
  const std::string indent(head.size() + 1, ' ');  // under the first element
  CHECK(erl_wrapped_list(nodes, head.size()) ==
        "['tidemq2@127.0.0.2','tidemq3@127.0.0.3',\n" + indent + "'tidemq4@127.0.0.4','tidemq5@127.0.0.5',\n" +
            indent + "'tidemq6@127.0.0.6']");
  CHECK(erl_wrapped_list({}, 70) == "[]");
  CHECK(erl_wrapped_list({"a@h", "b@h"}, 0) == "[a@h,b@h]");

  // 25 two-letter elements are 76 characters flat: one line while the ']' stays left of column 80.
  const std::vector<std::string> many(25, "ab");
  std::string flat = "[ab";
  for (int i = 1; i < 25; ++i) flat += ",ab";
  flat += "]";
  CHECK(erl_wrapped_list(many, 2) == flat);
  CHECK(erl_wrapped_list(many, 3) == flat.substr(0, flat.size() - 4) + ",\n    ab]");
  // A single element longer than the line stays whole.
  const std::string long_atom(100, 'x');
  CHECK(erl_wrapped_list({long_atom}, 10) == "[" + long_atom + "]");
}

TEST_CASE("status values print as ~p prints what EMQX holds", "[unit][rebalance][erlang_format]") {
  using J = nlohmann::json;
  CHECK(erl_status_value(J("waiting_takeover")) == "waiting_takeover");
  CHECK(erl_status_value(J("emqx1@127.0.0.1")) == "'emqx1@127.0.0.1'");
  CHECK(erl_status_value(J(30)) == "30");
  CHECK(erl_status_value(J(18446744073709551615ULL)) == "18446744073709551615");
  CHECK(erl_status_value(J(-3)) == "-3");
  CHECK(erl_status_value(J(1000.0)) == "1.0e3");
  CHECK(erl_status_value(J(2553.3333333333335)) == "2553.3333333333335");
  CHECK(erl_status_value(J(true)) == "true");
  CHECK(erl_status_value(J(nullptr)) == "undefined");
  CHECK(erl_status_value(J::array()) == "[]");
  CHECK(erl_status_value(J::array({"a@h", "tidemq@127.0.0.1", 1})) == "[a@h,'tidemq@127.0.0.1',1]");
  CHECK(erl_status_value(J::parse(R"({"k":1})")) == R"({"k":1})");  // not a status value: as JSON
  const std::string head = "Donor nodes: ";
  const J names = J::array({"tidemq1@127.0.0.1", "tidemq2@127.0.0.2", "tidemq3@127.0.0.3", "tidemq4@127.0.0.4"});
  CHECK(erl_status_value(names, head.size()) ==
        "['tidemq1@127.0.0.1','tidemq2@127.0.0.2','tidemq3@127.0.0.3',\n"
        "              'tidemq4@127.0.0.4']");
}
