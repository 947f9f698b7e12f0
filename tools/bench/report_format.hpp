// What the summaries of the scenarios have in common: latencies as text, percentile sets, the
// "error xN:" lines, and the pieces of the --json summary file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "error_log.hpp"
#include "histogram.hpp"

namespace tidemq::bench {

// A duration in nanoseconds as "1.234ms", "12.3ms" or "1.23s".
std::string fmt_ms(std::uint64_t ns);

struct PercentileSet {
  std::uint64_t n, p50, p90, p99, p999, max;
  double mean;
};
PercentileSet percentiles(const Histogram& h);

// One "error x<count>: <message>" line per entry.
void print_errors(const ErrorCounts& errors);

// JSON pieces, appended as they are formatted (fixed decimals, in a fixed order):
std::string json_string(std::string_view s);  // a quoted JSON string
void json_percentiles(std::string& j, const char* name, const PercentileSet& p);  // "name":{...}
void json_errors(std::string& j, const ErrorCounts& errors);  // "errors":[{"message":..,"count":..},...]

// Writes the --json document; a failure is reported on stderr.
void write_json_file(const std::string& path, const std::string& doc);

}  // namespace tidemq::bench
