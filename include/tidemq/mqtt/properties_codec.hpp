// The MQTT 5 property block (variable-byte length + properties) on its own, for other wire
// formats that carry message properties (the cluster link).
#pragma once

#include <string>
#include <string_view>

#include "tidemq/mqtt/packets.hpp"

namespace tidemq::mqtt {

// Appends `p` as an MQTT 5 property block: variable-byte length, then the properties.
void encode_properties(const Properties& p, std::string& out);

// Decodes one property block from the front of `in` and advances `in` past it. Any property
// identifier is accepted (no per-packet check). Returns false on malformed input; then `in` and
// `out` are left unchanged.
bool decode_properties(std::string_view& in, Properties& out);

}  // namespace tidemq::mqtt
