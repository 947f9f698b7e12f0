// Erlang `~p` renderings, for the texts tidemq shares with EMQX (docs/rebalance.md, "Option
// validation messages", "CLI output"): atoms ('emqx1@127.0.0.1'), strings ("x"), binaries (<<"k">>), floats in
// Erlang's shortest form (504.0, 333.3333333333333, 1.0e3), JSON values as jsx decodes them, and
// status values as the CLI prints them. Only erl_wrapped_list and erl_status_value wrap long lists
// at 80 columns as io_lib_pretty does; the other renderings stay on one line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tidemq::rebalance {

// An atom: bare when Erlang prints it bare (lower-case start, then alphanumerics, `_` or `@`,
// not a reserved word), single-quoted otherwise ('emqx1@127.0.0.1').
std::string erl_atom(std::string_view name);
std::string erl_atom_list(const std::vector<std::string>& names);  // ['a@h','b@h']

std::string erl_string(std::string_view s);                          // "x"
std::string erl_string_list(const std::vector<std::string>& items);  // ["x","y"]
std::string erl_binary(std::string_view s);                          // <<"x">>

// A float as io_lib prints it: the shortest round-trip digits, in fixed or exponent notation,
// whichever is shorter (504.0, 0.001, 1.0e3, 2340.0).
std::string erl_float(double v);

// A JSON value decoded by jsx and printed with ~p: strings are binaries, objects proplists
// ([{<<"k">>,1}], empty [{}]), null/true/false atoms, lists of printable Latin-1 codes strings.
// The value may come from anyone (an unknown parameter is echoed in the error), so the rendering
// is bounded: deeper than kErlTermMaxDepth levels prints `...`, and the text is cut after about
// kErlTermMaxLength characters with `...`.
inline constexpr std::size_t kErlTermMaxDepth = 16;
inline constexpr std::size_t kErlTermMaxLength = 256;
std::string erl_term(const nlohmann::ordered_json& v);

// Already rendered elements as a list printed `column` characters into its line, the way
// io_lib_pretty prints a list of atomic elements: on one line when it fits in 80 columns, else as
// many elements per line as fit, the continuation lines aligned under the first element.
std::string erl_wrapped_list(const std::vector<std::string>& items, std::size_t column);

// A status value as EMQX holds it, printed with ~p `column` characters into its line: strings are
// atoms (node names, states), integers plain, floats shortest (504.0), true/false, null
// `undefined`, arrays erl_wrapped_list.
std::string erl_status_value(const nlohmann::json& v, std::size_t column = 0);

}  // namespace tidemq::rebalance
