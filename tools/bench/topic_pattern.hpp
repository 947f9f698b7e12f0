// Topic patterns of the -t/--topic and --sub-topic options: "%i" stands for the connection's index,
// "%c" for its client id.
#pragma once

#include <string>

namespace tidemq::bench {

// "%i" → index, "%c" → client id.
std::string expand(const std::string& pattern, long index, const std::string& client_id);

// The filter matching every expansion of `pattern`: each topic level holding %i or %c becomes '+'.
std::string wildcard_of(const std::string& pattern);

}  // namespace tidemq::bench
