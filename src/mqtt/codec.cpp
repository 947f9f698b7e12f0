#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/properties_codec.hpp"

#include <array>

#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::mqtt {
namespace {

// Thrown only inside this file, on malformed input; decode_packet turns it into a DecodeError.
struct Bad {
  std::uint8_t reason;
  const char* what;
};

[[noreturn]] void malformed(const char* what) { throw Bad{rc::malformed_packet, what}; }
[[noreturn]] void protocol_error(const char* what) { throw Bad{rc::protocol_error, what}; }

class Reader {
 public:
  explicit Reader(std::string_view b) : buf_(b) {}
  bool empty() const { return pos_ >= buf_.size(); }
  std::size_t left() const { return buf_.size() - pos_; }
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(buf_[pos_++]);
  }
  std::uint16_t u16() {
    need(2);
    auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(buf_[pos_]) << 8) |
                                        static_cast<std::uint8_t>(buf_[pos_ + 1]));
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  std::uint32_t varint() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      std::uint8_t b = u8();
      if (i > 0 && b == 0) malformed("variable byte integer not in its shortest form");
      value |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) return value;
    }
    malformed("variable byte integer longer than 4 bytes");
  }
  std::string bin() {
    std::uint16_t n = u16();
    need(n);
    std::string s(buf_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::string str() {
    std::string s = bin();
    if (!valid_utf8(s)) malformed("invalid UTF-8 string");
    return s;
  }
  std::string rest() {
    std::string s(buf_.substr(pos_));
    pos_ = buf_.size();
    return s;
  }
  Reader sub(std::size_t n) {
    need(n);
    Reader r(buf_.substr(pos_, n));
    pos_ += n;
    return r;
  }

 private:
  void need(std::size_t n) const {
    if (buf_.size() - pos_ < n) malformed("packet shorter than its contents");
  }
  std::string_view buf_;
  std::size_t pos_ = 0;
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void varint(std::uint32_t v) {
    do {
      std::uint8_t b = v & 0x7F;
      v >>= 7;
      if (v) b |= 0x80;
      u8(b);
    } while (v);
  }
  void str(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }

 private:
  std::string& out_;
};

std::size_t varint_size(std::uint32_t v) {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

// Where a property may appear; one bit per context.
enum Ctx : std::uint16_t {
  c_connect = 1 << 0, c_connack = 1 << 1, c_publish = 1 << 2, c_will = 1 << 3, c_pubresp = 1 << 4,
  c_subscribe = 1 << 5, c_suback = 1 << 6, c_unsubscribe = 1 << 7, c_unsuback = 1 << 8,
  c_disconnect = 1 << 9, c_auth = 1 << 10,
  c_all = 0x7FF
};

constexpr std::uint16_t kReasonStringCtx = c_connack | c_pubresp | c_suback | c_unsuback | c_disconnect | c_auth;

std::uint16_t allowed_ctx(std::uint8_t id) {
  switch (id) {
    case 0x01: case 0x02: case 0x03: case 0x08: case 0x09: return c_publish | c_will;
    case 0x0B: return c_publish | c_subscribe;
    case 0x11: return c_connect | c_connack | c_disconnect;
    case 0x12: case 0x13: case 0x1A: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: return c_connack;
    case 0x15: case 0x16: return c_connect | c_connack | c_auth;
    case 0x17: case 0x19: return c_connect;
    case 0x18: return c_will;
    case 0x1C: return c_connack | c_disconnect;
    case 0x1F: return kReasonStringCtx;
    case 0x21: case 0x22: case 0x27: return c_connect | c_connack;
    case 0x23: return c_publish;
    case 0x26: return c_all;
    default: return 0;
  }
}

template <class T>
void set_once(std::optional<T>& slot, T value) {
  if (slot) protocol_error("property included more than once");
  slot = std::move(value);
}

std::uint8_t boolean_byte(Reader& r) {
  std::uint8_t v = r.u8();
  if (v > 1) protocol_error("property value must be 0 or 1");
  return v;
}

void read_properties(Reader& in, Ctx ctx, Properties& p) {
  std::uint32_t len = in.varint();
  Reader r = in.sub(len);
  while (!r.empty()) {
    std::uint32_t id = r.varint();
    // MQTT 5 §2.2.2.2: an identifier not valid for the packet type makes the packet malformed.
    if (id > 0xFF || !(allowed_ctx(static_cast<std::uint8_t>(id)) & ctx))
      malformed("property not valid in this packet");
    switch (id) {
      case 0x01: set_once(p.payload_format, boolean_byte(r)); break;
      case 0x02: set_once(p.message_expiry, r.u32()); break;
      case 0x03: set_once(p.content_type, r.str()); break;
      case 0x08: set_once(p.response_topic, r.str()); break;
      case 0x09: set_once(p.correlation_data, r.bin()); break;
      case 0x0B: {
        std::uint32_t sid = r.varint();
        if (sid == 0) protocol_error("subscription identifier 0");
        if (ctx == c_subscribe && !p.subscription_ids.empty()) protocol_error("two subscription identifiers");
        p.subscription_ids.push_back(sid);
        break;
      }
      case 0x11: set_once(p.session_expiry, r.u32()); break;
      case 0x12: set_once(p.assigned_client_id, r.str()); break;
      case 0x13: set_once(p.server_keep_alive, r.u16()); break;
      case 0x15: set_once(p.auth_method, r.str()); break;
      case 0x16: set_once(p.auth_data, r.bin()); break;
      case 0x17: set_once(p.request_problem_info, boolean_byte(r)); break;
      case 0x18: set_once(p.will_delay, r.u32()); break;
      case 0x19: set_once(p.request_response_info, boolean_byte(r)); break;
      case 0x1A: set_once(p.response_info, r.str()); break;
      case 0x1C: set_once(p.server_reference, r.str()); break;
      case 0x1F: set_once(p.reason_string, r.str()); break;
      case 0x21: {
        std::uint16_t v = r.u16();
        if (v == 0) protocol_error("receive maximum 0");
        set_once(p.receive_maximum, v);
        break;
      }
      case 0x22: set_once(p.topic_alias_maximum, r.u16()); break;
      case 0x23: set_once(p.topic_alias, r.u16()); break;
      case 0x24: set_once(p.maximum_qos, boolean_byte(r)); break;
      case 0x25: set_once(p.retain_available, boolean_byte(r)); break;
      case 0x26: {
        std::string k = r.str();
        std::string v = r.str();
        p.user_properties.emplace_back(std::move(k), std::move(v));
        break;
      }
      case 0x27: {
        std::uint32_t v = r.u32();
        if (v == 0) protocol_error("maximum packet size 0");
        set_once(p.maximum_packet_size, v);
        break;
      }
      case 0x28: set_once(p.wildcard_sub_available, boolean_byte(r)); break;
      case 0x29: set_once(p.sub_id_available, boolean_byte(r)); break;
      case 0x2A: set_once(p.shared_sub_available, boolean_byte(r)); break;
      default: malformed("unknown property");
    }
  }
}

// Overrides applied while encoding a PUBLISH for one subscriber.
struct PublishOverrides {
  std::span<const std::uint32_t> subscription_ids;
  std::uint16_t topic_alias = 0;
  std::optional<std::uint32_t> message_expiry;
  bool active = false;
};

void write_properties_body(Writer& w, const Properties& p, const PublishOverrides& o) {
  auto u8p = [&](std::uint8_t id, const std::optional<std::uint8_t>& v) {
    if (v) { w.u8(id); w.u8(*v); }
  };
  auto u16p = [&](std::uint8_t id, const std::optional<std::uint16_t>& v) {
    if (v) { w.u8(id); w.u16(*v); }
  };
  auto u32p = [&](std::uint8_t id, const std::optional<std::uint32_t>& v) {
    if (v) { w.u8(id); w.u32(*v); }
  };
  auto strp = [&](std::uint8_t id, const std::optional<std::string>& v) {
    if (v) { w.u8(id); w.str(*v); }
  };
  u8p(0x01, p.payload_format);
  u32p(0x02, o.active && o.message_expiry ? o.message_expiry : p.message_expiry);
  strp(0x03, p.content_type);
  strp(0x08, p.response_topic);
  strp(0x09, p.correlation_data);
  for (auto sid : (o.active ? o.subscription_ids : std::span<const std::uint32_t>(p.subscription_ids))) {
    w.u8(0x0B);
    w.varint(sid);
  }
  u32p(0x11, p.session_expiry);
  strp(0x12, p.assigned_client_id);
  u16p(0x13, p.server_keep_alive);
  strp(0x15, p.auth_method);
  strp(0x16, p.auth_data);
  u8p(0x17, p.request_problem_info);
  u32p(0x18, p.will_delay);
  u8p(0x19, p.request_response_info);
  strp(0x1A, p.response_info);
  strp(0x1C, p.server_reference);
  strp(0x1F, p.reason_string);
  u16p(0x21, p.receive_maximum);
  u16p(0x22, p.topic_alias_maximum);
  if (o.active) {
    if (o.topic_alias) { w.u8(0x23); w.u16(o.topic_alias); }
  } else {
    u16p(0x23, p.topic_alias);
  }
  u8p(0x24, p.maximum_qos);
  u8p(0x25, p.retain_available);
  for (const auto& [k, v] : p.user_properties) {
    w.u8(0x26);
    w.str(k);
    w.str(v);
  }
  u32p(0x27, p.maximum_packet_size);
  u8p(0x28, p.wildcard_sub_available);
  u8p(0x29, p.sub_id_available);
  u8p(0x2A, p.shared_sub_available);
}

// Appends length-prefixed properties.
void write_properties(std::string& out, const Properties& p, const PublishOverrides& o = {}) {
  thread_local std::string scratch;
  scratch.clear();
  Writer sw(scratch);
  write_properties_body(sw, p, o);
  Writer w(out);
  w.varint(static_cast<std::uint32_t>(scratch.size()));
  w.raw(scratch);
}

void write_frame(std::string& out, std::uint8_t first_byte, std::string_view body) {
  Writer w(out);
  w.u8(first_byte);
  w.varint(static_cast<std::uint32_t>(body.size()));
  w.raw(body);
}

Connect decode_connect(Reader& r) {
  Connect c;
  c.protocol_name = r.str();
  c.protocol_level = r.u8();
  bool known = (c.protocol_name == "MQTT" && (c.protocol_level == kV311 || c.protocol_level == kV5)) ||
               (c.protocol_name == "MQIsdp" && c.protocol_level == kV31);
  if (!known) return c;  // the channel answers "unsupported protocol version"
  const bool v5 = c.protocol_level == kV5;
  std::uint8_t flags = r.u8();
  if (flags & 0x01) malformed("reserved CONNECT flag set");
  c.clean_start = flags & 0x02;
  bool will_flag = flags & 0x04;
  std::uint8_t will_qos = (flags >> 3) & 0x03;
  bool will_retain = flags & 0x20;
  bool password_flag = flags & 0x40;
  bool username_flag = flags & 0x80;
  if (!will_flag && (will_qos || will_retain)) malformed("will QoS/retain set without will flag");
  if (will_qos == 3) malformed("will QoS 3");
  if (!v5 && password_flag && !username_flag) malformed("password without user name");
  c.keep_alive = r.u16();
  if (v5) read_properties(r, c_connect, c.props);
  c.client_id = r.str();
  if (will_flag) {
    Will w;
    w.qos = will_qos;
    w.retain = will_retain;
    if (v5) read_properties(r, c_will, w.props);
    w.topic = r.str();
    w.payload = r.bin();
    c.will = std::move(w);
  }
  if (username_flag) c.username = r.str();
  if (password_flag) c.password = r.bin();
  if (!r.empty()) malformed("trailing bytes after CONNECT payload");
  return c;
}

Publish decode_publish(Reader& r, std::uint8_t flags, bool v5) {
  Publish p;
  p.dup = flags & 0x08;
  p.qos = (flags >> 1) & 0x03;
  p.retain = flags & 0x01;
  if (p.qos == 3) malformed("PUBLISH QoS 3");
  if (p.qos == 0 && p.dup) malformed("DUP set on a QoS 0 PUBLISH");
  p.topic = r.str();
  if (p.qos > 0) {
    p.packet_id = r.u16();
    if (p.packet_id == 0) malformed("packet identifier 0");
  }
  if (v5) read_properties(r, c_publish, p.props);
  p.payload = r.rest();
  return p;
}

PubResponse decode_pubresp(Reader& r, PacketType t, bool v5) {
  PubResponse a;
  a.type = t;
  a.packet_id = r.u16();
  if (a.packet_id == 0) malformed("packet identifier 0");
  if (v5 && !r.empty()) {
    a.reason = r.u8();
    if (!r.empty()) read_properties(r, c_pubresp, a.props);
  }
  if (!r.empty()) malformed("trailing bytes");
  return a;
}

Subscribe decode_subscribe(Reader& r, bool v5) {
  Subscribe s;
  s.packet_id = r.u16();
  if (s.packet_id == 0) malformed("packet identifier 0");
  if (v5) read_properties(r, c_subscribe, s.props);
  while (!r.empty()) {
    SubscribeEntry e;
    e.filter = r.str();
    std::uint8_t o = r.u8();
    if (v5 ? (o & 0xC0) : (o & 0xFC)) malformed("reserved subscription option bits set");
    e.options.qos = o & 0x03;
    // MQTT 5 §3.8.3.1 calls these a Protocol Error; 3.1.1 calls them malformed.
    if (e.options.qos == 3) v5 ? protocol_error("subscription QoS 3") : malformed("subscription QoS 3");
    e.options.no_local = o & 0x04;
    e.options.retain_as_published = o & 0x08;
    e.options.retain_handling = (o >> 4) & 0x03;
    if (e.options.retain_handling == 3) protocol_error("retain handling 3");
    s.entries.push_back(std::move(e));
  }
  if (s.entries.empty()) v5 ? protocol_error("SUBSCRIBE without topic filters") : malformed("SUBSCRIBE without topic filters");
  return s;
}

Unsubscribe decode_unsubscribe(Reader& r, bool v5) {
  Unsubscribe u;
  u.packet_id = r.u16();
  if (u.packet_id == 0) malformed("packet identifier 0");
  if (v5) read_properties(r, c_unsubscribe, u.props);
  while (!r.empty()) u.filters.push_back(r.str());
  if (u.filters.empty()) v5 ? protocol_error("UNSUBSCRIBE without topic filters") : malformed("UNSUBSCRIBE without topic filters");
  return u;
}

template <class Ack>
Ack decode_sub_ack(Reader& r, bool v5, Ctx ctx, bool reasons_in_v3) {
  Ack a;
  a.packet_id = r.u16();
  if (v5) read_properties(r, ctx, a.props);
  if (v5 || reasons_in_v3)
    while (!r.empty()) a.reasons.push_back(r.u8());
  if (!r.empty()) malformed("trailing bytes");
  return a;
}

Packet decode_body(PacketType type, std::uint8_t flags, Reader& r, std::uint8_t version) {
  const bool v5 = version == kV5;
  // Fixed-header flags are reserved except for PUBLISH; PUBREL, SUBSCRIBE, UNSUBSCRIBE need 0b0010.
  if (type != PacketType::publish) {
    bool needs_two = type == PacketType::pubrel || type == PacketType::subscribe || type == PacketType::unsubscribe;
    if (flags != (needs_two ? 0x02 : 0x00)) malformed("reserved fixed-header flags");
  }
  switch (type) {
    case PacketType::connect: return decode_connect(r);
    case PacketType::connack: {
      Connack c;
      std::uint8_t ack_flags = r.u8();
      if (ack_flags & 0xFE) malformed("reserved CONNACK flags");
      c.session_present = ack_flags & 0x01;
      c.reason = r.u8();
      if (v5 && !r.empty()) read_properties(r, c_connack, c.props);
      if (!r.empty()) malformed("trailing bytes");
      return c;
    }
    case PacketType::publish: return decode_publish(r, flags, v5);
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: return decode_pubresp(r, type, v5);
    case PacketType::subscribe: return decode_subscribe(r, v5);
    case PacketType::suback: return decode_sub_ack<Suback>(r, v5, c_suback, true);
    case PacketType::unsubscribe: return decode_unsubscribe(r, v5);
    case PacketType::unsuback: return decode_sub_ack<Unsuback>(r, v5, c_unsuback, false);
    case PacketType::pingreq:
    case PacketType::pingresp:
      if (!r.empty()) malformed("PINGREQ/PINGRESP with a body");
      if (type == PacketType::pingreq) return Pingreq{};
      return Pingresp{};
    case PacketType::disconnect: {
      Disconnect d;
      if (v5 && !r.empty()) {
        d.reason = r.u8();
        if (!r.empty()) read_properties(r, c_disconnect, d.props);
      }
      if (!r.empty()) malformed("trailing bytes");
      return d;
    }
    case PacketType::auth: {
      if (!v5) malformed("AUTH in MQTT 3.1.1");
      Auth a;
      if (!r.empty()) {
        a.reason = r.u8();
        if (!r.empty()) read_properties(r, c_auth, a.props);
      }
      if (!r.empty()) malformed("trailing bytes");
      return a;
    }
  }
  malformed("unknown packet type");
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<std::uint8_t>(s[i]);
    if (c == 0) return false;  // U+0000 is forbidden in MQTT strings
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<std::uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

DecodeStatus decode_packet(std::string_view buf, std::uint8_t version, std::uint32_t max_packet_size,
                           Packet& out, std::size_t& consumed, DecodeError& err) {
  if (buf.empty()) return DecodeStatus::need_more;
  const auto first = static_cast<std::uint8_t>(buf[0]);
  const auto type_num = first >> 4;
  std::uint32_t remaining = 0;
  std::size_t header = 1;
  for (int i = 0;; ++i) {
    if (i == 4) {
      err = {rc::malformed_packet, "remaining length longer than 4 bytes"};
      return DecodeStatus::error;
    }
    if (header >= buf.size()) return DecodeStatus::need_more;
    auto b = static_cast<std::uint8_t>(buf[header++]);
    if (i > 0 && b == 0) {
      err = {rc::malformed_packet, "remaining length not in its shortest form"};
      return DecodeStatus::error;
    }
    remaining |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) break;
  }
  const std::size_t total = header + remaining;
  if (total > max_packet_size) {
    err = {rc::packet_too_large, "packet larger than the maximum packet size"};
    return DecodeStatus::error;
  }
  if (type_num == 0) {
    err = {rc::malformed_packet, "packet type 0 is reserved"};
    return DecodeStatus::error;
  }
  const auto type = static_cast<PacketType>(type_num);
  if (version == 0 && type != PacketType::connect) {
    err = {rc::protocol_error, "first packet is not CONNECT"};
    return DecodeStatus::error;
  }
  if (buf.size() < total) return DecodeStatus::need_more;
  try {
    Reader r(buf.substr(header, remaining));
    std::uint8_t effective = version;
    if (type == PacketType::connect) effective = 0;
    out = decode_body(type, first & 0x0F, r, effective);
    consumed = total;
    return DecodeStatus::ok;
  } catch (const Bad& b) {
    err = {b.reason, b.what};
    return DecodeStatus::error;
  }
}

namespace {

void encode_connect(const Connect& c, std::string& body) {
  Writer w(body);
  const bool v5 = c.protocol_level == kV5;
  w.str(c.protocol_name);
  w.u8(c.protocol_level);
  std::uint8_t flags = 0;
  if (c.clean_start) flags |= 0x02;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<std::uint8_t>(c.will->qos << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  w.u8(flags);
  w.u16(c.keep_alive);
  if (v5) write_properties(body, c.props);
  w.str(c.client_id);
  if (c.will) {
    if (v5) write_properties(body, c.will->props);
    w.str(c.will->topic);
    w.str(c.will->payload);
  }
  if (c.username) w.str(*c.username);
  if (c.password) w.str(*c.password);
}

template <class Ack>
void encode_ack_list(const Ack& a, bool v5, bool reasons, std::string& body) {
  Writer w(body);
  w.u16(a.packet_id);
  if (v5) write_properties(body, a.props);
  if (reasons)
    for (auto r : a.reasons) w.u8(r);
}

bool has_properties(const Properties& p) { return !(p == Properties{}); }

}  // namespace

void encode_publish(const PublishView& v, std::uint8_t version, std::string& out) {
  thread_local std::string props_buf;
  props_buf.clear();
  const bool v5 = version == kV5;
  static const Properties kNone;
  if (v5) {
    PublishOverrides o{v.subscription_ids, v.topic_alias, v.message_expiry, true};
    write_properties(props_buf, v.props ? *v.props : kNone, o);
  }
  std::size_t remaining = 2 + v.topic.size() + (v.qos ? 2 : 0) + props_buf.size() + v.payload.size();
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(0x30 | (v.dup ? 0x08 : 0) | (v.qos << 1) | (v.retain ? 1 : 0)));
  w.varint(static_cast<std::uint32_t>(remaining));
  w.str(v.topic);
  if (v.qos) w.u16(v.packet_id);
  w.raw(props_buf);
  w.raw(v.payload);
}

std::size_t encoded_publish_size(const PublishView& v, std::uint8_t version) {
  std::size_t props = 0;
  if (version == kV5) {
    thread_local std::string scratch;
    scratch.clear();
    static const Properties kNone;
    PublishOverrides o{v.subscription_ids, v.topic_alias, v.message_expiry, true};
    write_properties(scratch, v.props ? *v.props : kNone, o);
    props = scratch.size();
  }
  std::size_t remaining = 2 + v.topic.size() + (v.qos ? 2 : 0) + props + v.payload.size();
  return 1 + varint_size(static_cast<std::uint32_t>(remaining)) + remaining;
}

void encode_packet(const Packet& p, std::uint8_t version, std::string& out) {
  const bool v5 = version == kV5;
  std::string body;
  Writer w(body);
  switch (packet_type(p)) {
    case PacketType::connect: {
      const auto& c = std::get<Connect>(p);
      encode_connect(c, body);
      write_frame(out, 0x10, body);
      return;
    }
    case PacketType::connack: {
      const auto& c = std::get<Connack>(p);
      w.u8(c.session_present ? 1 : 0);
      w.u8(c.reason);
      if (v5) write_properties(body, c.props);
      write_frame(out, 0x20, body);
      return;
    }
    case PacketType::publish: {
      const auto& m = std::get<Publish>(p);
      PublishView v{m.topic, m.payload, m.qos, m.retain, m.dup, m.packet_id, &m.props,
                    m.props.subscription_ids, m.props.topic_alias.value_or(0), std::nullopt};
      encode_publish(v, version, out);
      return;
    }
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: {
      const auto& a = std::get<PubResponse>(p);
      w.u16(a.packet_id);
      bool props = has_properties(a.props);
      if (v5 && (a.reason != 0 || props)) {
        w.u8(a.reason);
        if (props) write_properties(body, a.props);
      }
      std::uint8_t first = static_cast<std::uint8_t>(static_cast<std::uint8_t>(a.type) << 4);
      if (a.type == PacketType::pubrel) first |= 0x02;
      write_frame(out, first, body);
      return;
    }
    case PacketType::subscribe: {
      const auto& s = std::get<Subscribe>(p);
      w.u16(s.packet_id);
      if (v5) write_properties(body, s.props);
      for (const auto& e : s.entries) {
        w.str(e.filter);
        std::uint8_t o = e.options.qos;
        if (v5) {
          if (e.options.no_local) o |= 0x04;
          if (e.options.retain_as_published) o |= 0x08;
          o |= static_cast<std::uint8_t>(e.options.retain_handling << 4);
        }
        w.u8(o);
      }
      write_frame(out, 0x82, body);
      return;
    }
    case PacketType::suback:
      encode_ack_list(std::get<Suback>(p), v5, true, body);
      write_frame(out, 0x90, body);
      return;
    case PacketType::unsubscribe: {
      const auto& u = std::get<Unsubscribe>(p);
      w.u16(u.packet_id);
      if (v5) write_properties(body, u.props);
      for (const auto& f : u.filters) w.str(f);
      write_frame(out, 0xA2, body);
      return;
    }
    case PacketType::unsuback:
      encode_ack_list(std::get<Unsuback>(p), v5, v5, body);
      write_frame(out, 0xB0, body);
      return;
    case PacketType::pingreq: write_frame(out, 0xC0, {}); return;
    case PacketType::pingresp: write_frame(out, 0xD0, {}); return;
    case PacketType::disconnect: {
      const auto& d = std::get<Disconnect>(p);
      if (v5) {
        bool props = has_properties(d.props);
        if (d.reason != 0 || props) w.u8(d.reason);
        if (props) write_properties(body, d.props);
      }
      write_frame(out, 0xE0, body);
      return;
    }
    case PacketType::auth: {
      const auto& a = std::get<Auth>(p);
      w.u8(a.reason);
      write_properties(body, a.props);
      write_frame(out, 0xF0, body);
      return;
    }
  }
}

void encode_properties(const Properties& p, std::string& out) { write_properties(out, p); }

bool decode_properties(std::string_view& in, Properties& out) {
  try {
    Reader r(in);
    Properties p;
    read_properties(r, c_all, p);
    in.remove_prefix(in.size() - r.left());
    out = std::move(p);
    return true;
  } catch (const Bad&) {
    return false;
  }
}

PacketType packet_type(const Packet& p) {
  static constexpr std::array<PacketType, 12> kByIndex = {
      PacketType::connect, PacketType::connack, PacketType::publish, PacketType::puback,
      PacketType::subscribe, PacketType::suback, PacketType::unsubscribe, PacketType::unsuback,
      PacketType::pingreq, PacketType::pingresp, PacketType::disconnect, PacketType::auth};
  if (const auto* a = std::get_if<PubResponse>(&p)) return a->type;
  return kByIndex[p.index()];
}

const char* packet_type_name(PacketType t) {
  static constexpr std::array<const char*, 16> kNames = {
      "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
      "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
  return kNames[static_cast<std::size_t>(t) & 0x0F];
}

}  // namespace tidemq::mqtt
