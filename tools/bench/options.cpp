// Names of the modes and pubsub layouts, as the summaries print them.
#include "options.hpp"

namespace tidemq::bench {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::conn: return "conn";
    case Mode::pub: return "pub";
    case Mode::sub: return "sub";
    case Mode::pubsub: return "pubsub";
    case Mode::takeover: return "takeover";
  }
  return "?";
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::pairwise: return "pairwise";
    case Layout::fanin: return "fanin";
    case Layout::fanout: return "fanout";
  }
  return "?";
}

}  // namespace tidemq::bench
