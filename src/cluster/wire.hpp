// Sans-I/O wire codec of a cluster link between two broker nodes: length-prefixed frames, an
// incremental frame splitter, and the compact binary encoding of forwarded publishes and direct
// deliveries. No Asio here; the link code feeds bytes in and writes the strings built here.
//
// Frame:   u32 length of (type + payload), u8 FrameType, payload. Big-endian integers throughout.
// forward: u16 record count, then that many records.
// deliver: u16-len client id, u8 flags (qos 2 bits, retain), u32 count and that many u32
//          subscription ids, one record (with match_local, store_retained and has_shared clear).
// Record:  u64 uid, u8 flags, u16-len topic, u16-len publisher, u32-len payload,
//          [u32 expiry remaining in ms]  when has_expiry,
//          [MQTT 5 property block]       when has_props (props differ from a default Properties),
//          [u16 count, u16-len strings]  when has_shared.
//          flags: bits 0-1 qos, 2 retain, 3 match_local, 4 store_retained, 5 has_props,
//                 6 has_expiry, 7 has_shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/subscription_ids.hpp"
#include "tidemq/core/types.hpp"
#include "tidemq/util/clock.hpp"

namespace tidemq::cluster {

enum class FrameType : std::uint8_t { challenge = 1, auth = 2, welcome = 3, control = 4, forward = 5, heartbeat = 6, deliver = 7 };

// Largest allowed value of a frame's length field (type byte + payload).
constexpr std::uint32_t kMaxFrame = 64 * 1024 * 1024;
// The same limit before the cookie check: handshake frames hold a name, a nonce and a proof, so
// an unauthenticated peer cannot make the node buffer more than this.
constexpr std::uint32_t kMaxHandshakeFrame = 4 * 1024;

// A forward frame is closed once it holds this many records or at least kForwardBatchBytes.
constexpr std::size_t kForwardBatchRecords = 65535;
constexpr std::size_t kForwardBatchBytes = 1024 * 1024;

// Frame = u32 big-endian length of (type byte + payload), u8 type, payload.
// Throws std::length_error when 1 + payload.size() > kMaxFrame.
void append_frame(std::string& out, FrameType type, std::string_view payload);

// Incremental frame splitter for a byte stream.
class FrameReader {
 public:
  explicit FrameReader(std::uint32_t max_frame = kMaxFrame) : max_frame_(max_frame) {}
  void set_max_frame(std::uint32_t max_frame) { max_frame_ = max_frame; }
  void feed(std::string_view bytes);  // appends
  enum class Status { frame, need_more, error };
  // On frame: type/payload valid until the next call to next() or feed(). The type is passed on
  // as read (it may be a value this version does not know; the caller decides what to do).
  // An error (length 0 or above the limit) is final: every later call returns error again. A
  // length above the limit is refused as soon as its 4 bytes are in, before the frame is.
  Status next(FrameType& type, std::string_view& payload);
  const std::string& error() const;  // e.g. "frame of N bytes exceeds the limit"
  std::size_t buffered() const { return buf_.size() - pos_; }  // bytes fed but not yet returned

 private:
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first byte not yet returned in a frame
  std::string error_;
  std::uint32_t max_frame_;
};

// One forwarded publish. The sender matched the message against its route table.
struct ForwardRecord {
  core::MessagePtr msg;            // never null
  bool match_local = false;        // deliver to the receiver's plain (non-shared) subscriptions
  bool store_retained = false;     // the receiver stores it in its retained store
  std::vector<std::string> shared; // "$share/<group>/<filter>" groups to deliver to (one member each) on the receiver
};

// Appends a record to `out`, batching: consecutive records go into one `forward` frame.
// `open_batch` is the offset in `out` where the currently open forward frame starts, or
// std::string::npos when there is none; the caller resets it to npos whenever it appends any
// other frame or consumes `out`. Each frame holds at most 65535 records / ~1 MiB, then a new one
// starts (and `open_batch` moves to it). If `open_batch` does not point at a forward frame that
// ends at the end of `out`, a new frame is started rather than corrupting `out`.
// Remaining expiry is sent as whole milliseconds left from `now` (rounded up; 0 if already past;
// capped at 2^32-1 ms, about 49.7 days).
// Throws std::length_error if the record alone cannot fit in a frame (see fits_in_frame), or a
// string is longer than 65535 bytes, or there are more than 65535 shared groups.
void append_forward(std::string& out, std::size_t& open_batch, const ForwardRecord& r, util::TimePoint now);

// Decodes a forward frame payload into `out` (cleared first); false (and *error, when not null)
// when malformed, with `out` cleared. Messages get expires_at = now + remaining.
bool decode_forward(std::string_view payload, util::TimePoint now, std::vector<ForwardRecord>& out, std::string* error);

// A delivery to one named session on the receiver (session handoff: the old node passes on what
// reaches it after it exported the session).
struct DirectDelivery {
  core::ClientId client_id;
  core::MessagePtr msg;  // never null when encoding
  std::uint8_t qos = 0;
  bool retain = false;
  core::SubscriptionIds sub_ids;
};
void append_deliver(std::string& out, const DirectDelivery& d, util::TimePoint now);  // one `deliver` frame
bool decode_deliver(std::string_view payload, util::TimePoint now, DirectDelivery& out, std::string* error);

// Conservative check that a message (with up to 1 MiB of client id / shared groups around it)
// fits in one frame. Messages up to the broker's default max packet size always fit; this only
// matters with mqtt.max_packet_size set above ~63 MiB. Cheap: no encoding.
bool fits_in_frame(const core::Message& m);

}  // namespace tidemq::cluster
