// What a connection does after the broker's last packet (a DISCONNECT with its reason, a CONNACK
// that refuses): it must not close the socket at once. A client still writing (a burst of
// publishes, say) would make our kernel answer with an RST, and the client would see a reset or a
// broken pipe instead of the reason code. So the connection sends FIN (shutdown of its sending
// side), keeps reading and discarding what still comes, and closes at the peer's EOF or at a bound,
// whichever is first. The bounds keep a hostile client from holding the socket.
#pragma once

#include <chrono>
#include <cstddef>

namespace tidemq::net {

struct CloseLinger {
  static constexpr std::chrono::seconds kMaxTime{2};
  // Several socket buffers' worth: what a pipelining client may already have sent.
  static constexpr std::size_t kMaxDiscardBytes = 256 * 1024;

  bool active = false;
  std::size_t discarded = 0;

  // Counts bytes read while lingering; false once the budget is spent (close now).
  bool absorb(std::size_t n) {
    discarded += n;
    return discarded < kMaxDiscardBytes;
  }
};

}  // namespace tidemq::net
