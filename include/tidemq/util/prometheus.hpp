// Prometheus text exposition (format 0.0.4), as GET /metrics serves it: each family's HELP and
// TYPE lines, then its samples. One writer for the broker, the cluster, the listeners and plugins.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tidemq::util {

class PrometheusText {
 public:
  // `type`: "counter" or "gauge".
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // `labels` as they go between the braces (`state="connected"`), or empty for none.
  template <class Value>
  void sample(std::string_view name, const Value& value, std::string_view labels = {}) {
    if (labels.empty())
      out_ += fmt::format("{} {}\n", name, value);
    else
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace tidemq::util
