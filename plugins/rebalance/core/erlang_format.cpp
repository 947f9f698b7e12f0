#include "rebalance/core/erlang_format.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tidemq::rebalance {

namespace {

constexpr std::array<std::string_view, 29> kReserved = {
    "after", "and",  "andalso", "band",  "begin",   "bnot", "bor",   "bsl",   "bsr", "bxor",
    "case",  "catch", "cond",   "div",   "else",    "end",  "fun",   "if",    "let", "maybe",
    "not",   "of",   "or",      "orelse", "receive", "rem", "try",   "when",  "xor"};

bool bare_atom(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '@';
    if (!ok) return false;
  }
  for (auto r : kReserved) {
    if (s == r) return false;
  }
  return true;
}

// Characters inside a quoted atom or string, escaped as io_lib does.
void append_escaped(std::string& out, std::string_view s, char quote) {
  for (unsigned char c : s) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case 27: out += "\\e"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 32 || c == 127) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\%o", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

// io_lib:printable_list/1 in its default Latin-1 range.
bool printable_latin1(int c) {
  return (c >= 32 && c <= 126) || (c >= 160 && c <= 255) || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
         c == '\b' || c == '\f' || c == 27;
}

bool printable_binary(std::string_view s) {
  for (unsigned char c : s) {
    if (!printable_latin1(c)) return false;
  }
  return true;
}

template <class List, class F>
std::string join_list(const List& items, F&& render) {
  std::string out = "[";
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    out += render(item);
  }
  out += ']';
  return out;
}

}  // namespace

std::string erl_atom(std::string_view name) {
  if (bare_atom(name)) return std::string(name);
  std::string out = "'";
  append_escaped(out, name, '\'');
  out += '\'';
  return out;
}

std::string erl_atom_list(const std::vector<std::string>& names) {
  return join_list(names, [](const std::string& n) { return erl_atom(n); });
}

std::string erl_string(std::string_view s) {
  std::string out = "\"";
  append_escaped(out, s, '"');
  out += '"';
  return out;
}

std::string erl_string_list(const std::vector<std::string>& items) {
  return join_list(items, [](const std::string& s) { return erl_string(s); });
}

std::string erl_binary(std::string_view s) {
  if (printable_binary(s)) return "<<" + erl_string(s) + ">>";
  std::string out = "<<";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(static_cast<unsigned char>(s[i]));
  }
  out += ">>";
  return out;
}

std::string erl_float(double v) {
  if (!std::isfinite(v)) return v != v ? "nan" : (v > 0 ? "inf" : "-inf");
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  std::string sign = v < 0 ? "-" : "";
  // Shortest round-trip digits in scientific form: d[.ddd]e±X.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const auto e_pos = sci.find('e');
  std::string digits;
  for (std::size_t i = 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exp10 = std::atoi(sci.c_str() + e_pos + 1);
  // io_lib_format:insert_decimal/3 with Place = exponent of 0.DIGITS × 10^Place.
  const int place = exp10 + 1;
  const int len = static_cast<int>(digits.size());
  auto insert_exp = [&](const std::string& exp_l) {
    if (len == 1) return digits + ".0e" + exp_l;
    return digits.substr(0, 1) + "." + digits.substr(1) + "e" + exp_l;
  };
  std::string out;
  if (place == 0) {
    out = "0." + digits;
  } else if (place < 0 || place >= len) {
    const std::string exp_l = std::to_string(place - 1);
    const int exp_dot = len == 1 ? 2 : 1;
    const int exp_cost = static_cast<int>(exp_l.size()) + 1 + exp_dot;
    if (place < 0) {
      out = (2 - place <= exp_cost) ? "0." + std::string(static_cast<std::size_t>(-place), '0') + digits
                                    : insert_exp(exp_l);
    } else {
      out = (place - len + 2 <= exp_cost) ? digits + std::string(static_cast<std::size_t>(place - len), '0') + ".0"
                                          : insert_exp(exp_l);
    }
  } else {
    out = digits.substr(0, static_cast<std::size_t>(place)) + "." + digits.substr(static_cast<std::size_t>(place));
  }
  return sign + out;
}

namespace {

// erl_term into `out`, `depth` levels down; stops adding once `out` is past the length limit.
void render_term(const nlohmann::ordered_json& v, std::size_t depth, std::string& out) {
  using value_t = nlohmann::ordered_json::value_t;
  if (out.size() > kErlTermMaxLength) return;
  if (depth > kErlTermMaxDepth && (v.is_object() || v.is_array())) {
    out += "...";
    return;
  }
  switch (v.type()) {
    case value_t::null: out += "null"; return;
    case value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case value_t::string: out += erl_binary(v.get_ref<const std::string&>()); return;
    case value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); return;
    case value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); return;
    case value_t::number_float: out += erl_float(v.get<double>()); return;
    case value_t::object: {
      if (v.empty()) {
        out += "[{}]";
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& [k, val] : v.items()) {
        if (out.size() > kErlTermMaxLength) break;
        if (!first) out += ',';
        first = false;
        out += "{" + erl_binary(k) + ",";
        render_term(val, depth + 1, out);
        out += '}';
      }
      out += ']';
      return;
    }
    case value_t::array: {
      bool as_string = !v.empty();
      for (const auto& e : v) {
        if (!e.is_number_integer() || !printable_latin1(static_cast<int>(std::max<std::int64_t>(
                                          -1, std::min<std::int64_t>(e.get<std::int64_t>(), 1 << 20))))) {
          as_string = false;
          break;
        }
      }
      if (as_string) {
        std::string s;
        for (const auto& e : v) s += static_cast<char>(e.get<std::int64_t>());
        out += erl_string(s);
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (out.size() > kErlTermMaxLength) break;
        if (!first) out += ',';
        first = false;
        render_term(e, depth + 1, out);
      }
      out += ']';
      return;
    }
    case value_t::binary:
    case value_t::discarded: break;
  }
  out += "undefined";
}

}  // namespace

std::string erl_term(const nlohmann::ordered_json& v) {
  std::string out;
  render_term(v, 1, out);
  if (out.size() > kErlTermMaxLength) {
    out.resize(kErlTermMaxLength);
    out += "...";
  }
  return out;
}

namespace {

constexpr std::size_t kLineLength = 80;  // io_lib:format's ~p line length

}  // namespace

std::string erl_wrapped_list(const std::vector<std::string>& items, std::size_t column) {
  const std::string flat = join_list(items, [](const std::string& item) { return item; });
  const std::size_t col = column + 1;  // io_lib_pretty's 1-based column of the '['
  if (items.empty() || flat.size() + col < kLineLength) return flat;
  const std::string indent(column + 1, ' ');
  std::string out = "[" + items[0];
  std::size_t at = col + 1 + items[0].size();
  for (std::size_t i = 1; i < items.size(); ++i) {
    const std::size_t len = 1 + items[i].size();
    if (at + len + 1 < kLineLength) {
      out += "," + items[i];
      at += len;
    } else {
      out += ",\n" + indent + items[i];
      at = col + 1 + items[i].size();
    }
  }
  return out + "]";
}

std::string erl_status_value(const nlohmann::json& v, std::size_t column) {
  using value_t = nlohmann::json::value_t;
  switch (v.type()) {
    case value_t::string: return erl_atom(v.get_ref<const std::string&>());
    case value_t::number_float: return erl_float(v.get<double>());
    case value_t::number_integer:
    case value_t::number_unsigned: return v.dump();
    case value_t::boolean: return v.get<bool>() ? "true" : "false";
    case value_t::null: return "undefined";
    case value_t::array: {
      std::vector<std::string> items;
      for (const auto& e : v) items.push_back(erl_status_value(e));
      return erl_wrapped_list(items, column);
    }
    default: return v.dump();
  }
}

}  // namespace tidemq::rebalance
