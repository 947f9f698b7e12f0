#include "cluster/wire.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <stdexcept>

#include "tidemq/mqtt/properties_codec.hpp"

namespace tidemq::cluster {
namespace {

constexpr std::size_t kFrameHeader = 5;     // u32 length + u8 type
constexpr std::size_t kForwardHeader = 7;   // frame header + u16 record count
constexpr std::size_t kRecordFixed = 8 + 1 + 2 + 2 + 4;  // uid, flags, three length prefixes

constexpr std::uint8_t kQosMask = 0x03;
constexpr std::uint8_t kRetain = 1 << 2;
constexpr std::uint8_t kMatchLocal = 1 << 3;
constexpr std::uint8_t kStoreRetained = 1 << 4;
constexpr std::uint8_t kHasProps = 1 << 5;
constexpr std::uint8_t kHasExpiry = 1 << 6;
constexpr std::uint8_t kHasShared = 1 << 7;

// ---- encoding --------------------------------------------------------------------------------

void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}

void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  put_u32(out, static_cast<std::uint32_t>(v >> 32));
  put_u32(out, static_cast<std::uint32_t>(v));
}

void put_str16(std::string& out, std::string_view s, const char* what) {
  if (s.size() > 0xFFFF) throw std::length_error(std::string("cluster wire: ") + what + " longer than 65535 bytes");
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

void set_u16(std::string& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<char>(v >> 8);
  out[at + 1] = static_cast<char>(v);
}

void set_u32(std::string& out, std::size_t at, std::uint32_t v) {
  out[at] = static_cast<char>(v >> 24);
  out[at + 1] = static_cast<char>(v >> 16);
  out[at + 2] = static_cast<char>(v >> 8);
  out[at + 3] = static_cast<char>(v);
}

std::uint16_t get_u16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(p[0]) << 8) | static_cast<std::uint8_t>(p[1]));
}

std::uint32_t get_u32(const char* p) {
  return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[0])) << 24) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[2])) << 8) |
         static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[3]));
}

std::uint32_t remaining_ms(util::TimePoint expires_at, util::TimePoint now) {
  if (expires_at <= now) return 0;
  const std::int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(expires_at - now).count();
  constexpr std::int64_t kMax = std::numeric_limits<std::uint32_t>::max();
  return static_cast<std::uint32_t>(std::min(ms, kMax));
}

const mqtt::Properties& default_props() {
  static const mqtt::Properties kDefault;
  return kDefault;
}

// Appends one record. `extra` holds the match_local / store_retained bits.
void encode_record(std::string& out, const core::Message& m, std::uint8_t extra,
                   const std::vector<std::string>* shared, util::TimePoint now) {
  const bool has_props = !(m.props == default_props());
  const bool has_shared = shared && !shared->empty();
  if (m.payload.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("cluster wire: payload too large");
  std::uint8_t flags = static_cast<std::uint8_t>(std::min<std::uint8_t>(m.qos, 2) | extra);
  if (m.retain) flags |= kRetain;
  if (has_props) flags |= kHasProps;
  if (m.expires_at) flags |= kHasExpiry;
  if (has_shared) flags |= kHasShared;

  put_u64(out, m.uid);
  put_u8(out, flags);
  put_str16(out, m.topic, "topic");
  put_str16(out, m.publisher, "publisher");
  put_u32(out, static_cast<std::uint32_t>(m.payload.size()));
  out.append(m.payload);
  if (m.expires_at) put_u32(out, remaining_ms(*m.expires_at, now));
  if (has_props) mqtt::encode_properties(m.props, out);
  if (has_shared) {
    if (shared->size() > 0xFFFF) throw std::length_error("cluster wire: more than 65535 shared groups");
    put_u16(out, static_cast<std::uint16_t>(shared->size()));
    for (const auto& s : *shared) put_str16(out, s, "shared subscription");
  }
}

// Lower bound of a record's encoded size (without properties and shared groups).
std::size_t record_estimate(const core::Message& m) {
  return kRecordFixed + m.topic.size() + m.publisher.size() + m.payload.size();
}

// True when `open` is the start of a forward frame that ends exactly at the end of `out`.
bool forward_frame_at_end(const std::string& out, std::size_t open) {
  if (open == std::string::npos || open > out.size() || out.size() - open < kForwardHeader) return false;
  if (static_cast<std::uint8_t>(out[open + 4]) != static_cast<std::uint8_t>(FrameType::forward)) return false;
  return std::size_t{get_u32(out.data() + open)} + 4 == out.size() - open;
}

// ---- decoding --------------------------------------------------------------------------------

// Bounds-checked reader over a payload. Every getter returns false (and records why) instead of
// reading past the end.
struct Cursor {
  std::string_view in;
  const char* why = nullptr;

  bool fail(const char* w) {
    if (!why) why = w;
    return false;
  }
  bool u8(std::uint8_t& v) {
    if (in.size() < 1) return fail("truncated");
    v = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (in.size() < 2) return fail("truncated");
    v = get_u16(in.data());
    in.remove_prefix(2);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (in.size() < 4) return fail("truncated");
    v = get_u32(in.data());
    in.remove_prefix(4);
    return true;
  }
  bool u64(std::uint64_t& v) {
    std::uint32_t hi = 0, lo = 0;
    if (!u32(hi) || !u32(lo)) return false;
    v = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& v) {
    if (in.size() < n) return fail("length exceeds the frame");
    v = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  bool str16(std::string& s) {
    std::uint16_t n = 0;
    std::string_view v;
    if (!u16(n) || !bytes(n, v)) return false;
    s.assign(v);
    return true;
  }
};

// Decodes one record; `flags` receives its flag byte.
bool decode_record(Cursor& c, util::TimePoint now, ForwardRecord& r, std::uint8_t& flags) {
  auto m = std::make_shared<core::Message>();
  if (!c.u64(m->uid) || !c.u8(flags)) return false;
  if ((flags & kQosMask) == 3) return c.fail("QoS 3");
  m->qos = flags & kQosMask;
  m->retain = flags & kRetain;
  if (!c.str16(m->topic) || !c.str16(m->publisher)) return false;
  std::uint32_t len = 0;
  std::string_view payload;
  if (!c.u32(len) || !c.bytes(len, payload)) return false;
  m->payload.assign(payload);
  if (flags & kHasExpiry) {
    std::uint32_t ms = 0;
    if (!c.u32(ms)) return false;
    m->expires_at = now + std::chrono::milliseconds(ms);
  }
  if (flags & kHasProps) {
    if (!mqtt::decode_properties(c.in, m->props)) return c.fail("malformed properties");
  }
  r.match_local = flags & kMatchLocal;
  r.store_retained = flags & kStoreRetained;
  r.shared.clear();
  if (flags & kHasShared) {
    std::uint16_t n = 0;
    if (!c.u16(n)) return false;
    if (std::size_t{n} * 2 > c.in.size()) return c.fail("shared group count exceeds the frame");
    r.shared.resize(n);
    for (auto& s : r.shared)
      if (!c.str16(s)) return false;
  }
  r.msg = std::move(m);
  return true;
}

bool failed(const Cursor& c, std::string* error, const char* context) {
  if (error) *error = std::string(context) + ": " + (c.why ? c.why : "malformed");
  return false;
}

void append_forward_impl(std::string& out, std::size_t& open_batch, const ForwardRecord& r, util::TimePoint now,
                         bool allow_extend) {
  const std::size_t old_size = out.size();
  const std::size_t old_open = open_batch;
  bool extend = allow_extend && forward_frame_at_end(out, open_batch);
  if (extend) {
    const std::size_t frame_bytes = out.size() - open_batch;
    const std::size_t count = get_u16(out.data() + open_batch + 5);
    if (count >= kForwardBatchRecords || frame_bytes + record_estimate(*r.msg) > kForwardBatchBytes) extend = false;
  }
  try {
    if (!extend) {
      open_batch = out.size();
      put_u32(out, 0);
      put_u8(out, static_cast<std::uint8_t>(FrameType::forward));
      put_u16(out, 0);
    }
    std::uint8_t extra = 0;
    if (r.match_local) extra |= kMatchLocal;
    if (r.store_retained) extra |= kStoreRetained;
    encode_record(out, *r.msg, extra, &r.shared, now);
  } catch (...) {
    out.resize(old_size);
    open_batch = old_open;
    throw;
  }
  const std::size_t frame_len = out.size() - open_batch - 4;
  if (frame_len > kMaxFrame) {
    out.resize(old_size);
    open_batch = old_open;
    if (extend) return append_forward_impl(out, open_batch, r, now, false);
    throw std::length_error("cluster wire: forwarded message too large for a frame");
  }
  set_u32(out, open_batch, static_cast<std::uint32_t>(frame_len));
  set_u16(out, open_batch + 5, static_cast<std::uint16_t>(get_u16(out.data() + open_batch + 5) + 1));
}

std::size_t props_bound(const mqtt::Properties& p) {
  std::size_t n = 128;  // every fixed-size property at most once
  auto s = [&](const std::optional<std::string>& v) {
    if (v) n += 3 + v->size();
  };
  s(p.content_type); s(p.response_topic); s(p.correlation_data); s(p.assigned_client_id);
  s(p.auth_method); s(p.auth_data); s(p.response_info); s(p.server_reference); s(p.reason_string);
  for (const auto& [k, v] : p.user_properties) n += 5 + k.size() + v.size();
  n += 5 * p.subscription_ids.size();
  return n + 4;  // the block's length prefix
}

}  // namespace

// ---- frames ----------------------------------------------------------------------------------

void append_frame(std::string& out, FrameType type, std::string_view payload) {
  if (payload.size() >= kMaxFrame) throw std::length_error("cluster wire: frame payload too large");
  put_u32(out, static_cast<std::uint32_t>(payload.size() + 1));
  put_u8(out, static_cast<std::uint8_t>(type));
  out.append(payload);
}

void FrameReader::feed(std::string_view bytes) {
  // Compact lazily: only once the consumed prefix is at least as long as what is left, so each
  // byte is moved O(1) times on average; a fully consumed buffer is just cleared.
  if (pos_ > 0 && pos_ >= buf_.size() - pos_) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

FrameReader::Status FrameReader::next(FrameType& type, std::string_view& payload) {
  if (!error_.empty()) return Status::error;
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 4) return Status::need_more;
  const std::uint32_t len = get_u32(buf_.data() + pos_);
  if (len == 0) {
    error_ = "frame of 0 bytes has no type";
    return Status::error;
  }
  if (len > max_frame_) {
    error_ = "frame of " + std::to_string(len) + " bytes exceeds the limit";
    return Status::error;
  }
  if (avail - 4 < len) return Status::need_more;
  type = static_cast<FrameType>(static_cast<std::uint8_t>(buf_[pos_ + 4]));
  payload = std::string_view(buf_).substr(pos_ + kFrameHeader, len - 1);
  pos_ += 4 + std::size_t{len};
  return Status::frame;
}

const std::string& FrameReader::error() const { return error_; }

// ---- forward ---------------------------------------------------------------------------------

void append_forward(std::string& out, std::size_t& open_batch, const ForwardRecord& r, util::TimePoint now) {
  append_forward_impl(out, open_batch, r, now, true);
}

bool decode_forward(std::string_view payload, util::TimePoint now, std::vector<ForwardRecord>& out, std::string* error) {
  out.clear();
  Cursor c{payload};
  std::uint16_t count = 0;
  if (!c.u16(count)) return failed(c, error, "forward");
  // Every record takes at least kRecordFixed bytes: no reservation beyond what the payload can hold.
  out.reserve(std::min<std::size_t>(count, c.in.size() / kRecordFixed));
  for (std::uint16_t i = 0; i < count; ++i) {
    ForwardRecord r;
    std::uint8_t flags = 0;
    if (!decode_record(c, now, r, flags)) {
      out.clear();
      return failed(c, error, "forward");
    }
    out.push_back(std::move(r));
  }
  if (!c.in.empty()) {
    out.clear();
    c.fail("trailing bytes");
    return failed(c, error, "forward");
  }
  return true;
}

// ---- deliver ---------------------------------------------------------------------------------

void append_deliver(std::string& out, const DirectDelivery& d, util::TimePoint now) {
  const std::size_t start = out.size();
  try {
    put_u32(out, 0);
    put_u8(out, static_cast<std::uint8_t>(FrameType::deliver));
    put_str16(out, d.client_id, "client id");
    std::uint8_t flags = std::min<std::uint8_t>(d.qos, 2);
    if (d.retain) flags |= kRetain;
    put_u8(out, flags);
    const auto ids = d.sub_ids.view();
    put_u32(out, static_cast<std::uint32_t>(ids.size()));
    for (auto id : ids) put_u32(out, id);
    encode_record(out, *d.msg, 0, nullptr, now);
  } catch (...) {
    out.resize(start);
    throw;
  }
  const std::size_t frame_len = out.size() - start - 4;
  if (frame_len > kMaxFrame) {
    out.resize(start);
    throw std::length_error("cluster wire: delivered message too large for a frame");
  }
  set_u32(out, start, static_cast<std::uint32_t>(frame_len));
}

bool decode_deliver(std::string_view payload, util::TimePoint now, DirectDelivery& out, std::string* error) {
  Cursor c{payload};
  DirectDelivery d;
  std::uint8_t flags = 0;
  std::uint32_t id_count = 0;
  if (!c.str16(d.client_id) || !c.u8(flags) || !c.u32(id_count)) return failed(c, error, "deliver");
  if (id_count > c.in.size() / 4) {
    c.fail("subscription id count exceeds the frame");
    return failed(c, error, "deliver");
  }
  for (std::uint32_t i = 0; i < id_count; ++i) {
    std::uint32_t id = 0;
    c.u32(id);
    if (id == 0) {
      c.fail("subscription id 0");
      return failed(c, error, "deliver");
    }
    d.sub_ids.add(id);
  }
  if ((flags & ~(kQosMask | kRetain)) != 0) {
    c.fail("reserved flags set");
    return failed(c, error, "deliver");
  }
  if ((flags & kQosMask) == 3) {
    c.fail("QoS 3");
    return failed(c, error, "deliver");
  }
  d.qos = flags & kQosMask;
  d.retain = flags & kRetain;
  ForwardRecord r;
  std::uint8_t rflags = 0;
  if (!decode_record(c, now, r, rflags)) return failed(c, error, "deliver");
  if (rflags & (kMatchLocal | kStoreRetained | kHasShared)) {
    c.fail("forward-only record flags set");
    return failed(c, error, "deliver");
  }
  if (!c.in.empty()) {
    c.fail("trailing bytes");
    return failed(c, error, "deliver");
  }
  d.msg = std::move(r.msg);
  out = std::move(d);
  return true;
}

bool fits_in_frame(const core::Message& m) {
  constexpr std::size_t kHeadroom = 1024 * 1024;  // client id, shared groups, headers
  const std::size_t size = kRecordFixed + 4 + m.topic.size() + m.publisher.size() + m.payload.size() + props_bound(m.props);
  return size + kHeadroom <= kMaxFrame;
}

}  // namespace tidemq::cluster
