// Formatting shared by the summaries: fmt for the fixed-decimal numbers the scripts read, nlohmann
// for escaping strings.
#include "report_format.hpp"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tidemq::bench {

std::string fmt_ms(std::uint64_t ns) {
  double ms = static_cast<double>(ns) / 1e6;
  if (ms < 10) return fmt::format("{:.3f}ms", ms);
  if (ms < 1000) return fmt::format("{:.1f}ms", ms);
  return fmt::format("{:.2f}s", ms / 1000);
}

PercentileSet percentiles(const Histogram& h) {
  return {h.count(), h.quantile(0.50), h.quantile(0.90), h.quantile(0.99), h.quantile(0.999), h.max(), h.mean()};
}

void print_errors(const ErrorCounts& errors) {
  for (const auto& [msg, n] : errors) fmt::print("error x{}: {}\n", n, msg);
}

std::string json_string(std::string_view s) {
  // Invalid UTF-8 (a broker's reason string, say) becomes U+FFFD instead of an exception.
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void json_percentiles(std::string& j, const char* name, const PercentileSet& p) {
  j += fmt::format(
      "\"{}\":{{\"count\":{},\"mean_ms\":{:.4f},\"p50_ms\":{:.4f},\"p90_ms\":{:.4f},\"p99_ms\":{:.4f},"
      "\"p999_ms\":{:.4f},\"max_ms\":{:.4f}}}",
      name, p.n, p.mean / 1e6, p.p50 / 1e6, p.p90 / 1e6, p.p99 / 1e6, p.p999 / 1e6, p.max / 1e6);
}

void json_errors(std::string& j, const ErrorCounts& errors) {
  j += "\"errors\":[";
  for (std::size_t i = 0; i < errors.size(); ++i)
    j += fmt::format("{}{{\"message\":{},\"count\":{}}}", i ? "," : "", json_string(errors[i].first),
                     errors[i].second);
  j += "]";
}

void write_json_file(const std::string& path, const std::string& doc) {
  std::ofstream f(path);
  f << doc;
  if (!f) fmt::print(stderr, "tidemq_bench: cannot write {}\n", path);
}

}  // namespace tidemq::bench
