// What a benchmark payload carries, and per-publisher sequence tracking on the receiving side.
//
// Payload layout (little endian), when the payload is at least kStampSize bytes:
//   0  u32  magic "TMQB"
//   4  u32  publisher index (0-based, within its run)
//   8  u64  sequence number (0, 1, 2, ... per publisher)
//  16  u64  send time, steady clock (CLOCK_MONOTONIC) nanoseconds — one clock for every process on
//           the machine, so a separate `sub` process can measure latency too
//  24  ...  filler up to the requested size
// Smaller payloads carry only filler; receivers then count messages but measure no latency.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tidemq::bench {

inline constexpr std::uint32_t kMagic = 0x42514d54;  // "TMQB" read as little endian
inline constexpr std::size_t kStampSize = 24;

struct Stamp {
  std::uint32_t pub = 0;
  std::uint64_t seq = 0;
  std::uint64_t sent_ns = 0;
};

inline void write_stamp(char* p, const Stamp& s) {
  std::memcpy(p, &kMagic, 4);
  std::memcpy(p + 4, &s.pub, 4);
  std::memcpy(p + 8, &s.seq, 8);
  std::memcpy(p + 16, &s.sent_ns, 8);
}

inline bool read_stamp(std::string_view payload, Stamp& s) {
  if (payload.size() < kStampSize) return false;
  std::uint32_t magic;
  std::memcpy(&magic, payload.data(), 4);
  if (magic != kMagic) return false;
  std::memcpy(&s.pub, payload.data() + 4, 4);
  std::memcpy(&s.seq, payload.data() + 8, 8);
  std::memcpy(&s.sent_ns, payload.data() + 16, 8);
  return true;
}

// Sequence numbers seen from one publisher by one subscriber. A sliding bitmap over the last
// kWindow sequence numbers tells a duplicate from a late (out-of-order) first arrival.
class SeqTracker {
 public:
  static constexpr std::uint64_t kWindow = 1024;

  enum class Result { in_order, gap, out_of_order, duplicate, too_old };

  Result on(std::uint64_t seq) {
    if (!started_) {
      started_ = true;
      first_ = seq;
      next_ = seq;
    }
    if (seq >= next_) {
      // Clear the bits of the sequence numbers skipped over (and of seq itself).
      std::uint64_t span = seq - next_ + 1;
      if (span >= kWindow) {
        bits_.fill(0);
      } else {
        for (std::uint64_t s = next_; s <= seq; ++s) clear(s);
      }
      Result r = seq == next_ ? Result::in_order : Result::gap;
      next_ = seq + 1;
      set(seq);
      ++unique_;
      return r;
    }
    if (next_ - seq > kWindow) return Result::too_old;  // cannot tell; counted apart
    if (test(seq)) return Result::duplicate;
    set(seq);
    ++unique_;
    return Result::out_of_order;
  }

  std::uint64_t unique() const { return unique_; }
  // Sequence numbers in [first seen, highest seen] never received (so far).
  std::uint64_t gaps() const { return started_ ? (next_ - first_) - unique_ : 0; }
  std::uint64_t first() const { return first_; }
  std::uint64_t next() const { return next_; }

 private:
  void set(std::uint64_t s) { bits_[(s % kWindow) / 64] |= std::uint64_t{1} << (s % 64); }
  void clear(std::uint64_t s) { bits_[(s % kWindow) / 64] &= ~(std::uint64_t{1} << (s % 64)); }
  bool test(std::uint64_t s) const { return bits_[(s % kWindow) / 64] >> (s % 64) & 1; }

  std::array<std::uint64_t, kWindow / 64> bits_{};
  std::uint64_t first_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t unique_ = 0;
  bool started_ = false;
};

}  // namespace tidemq::bench
