// Drives a core::Channel the way net::Connection does, without sockets: bytes in, packets out.
// Wake-ups from other "threads" (SessionOwner::notify/kick) are recorded and replayed by pump().
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/channel.hpp"
#include "tidemq/mqtt/codec.hpp"

namespace tidemq::test {

class ChannelHarness : public core::SessionOwner, public std::enable_shared_from_this<ChannelHarness> {
 public:
  static std::shared_ptr<ChannelHarness> make(core::Broker& broker, std::string peer = "127.0.0.1:5000") {
    auto h = std::shared_ptr<ChannelHarness>(new ChannelHarness(broker, std::move(peer)));
    h->channel.bind_owner(h->weak_from_this(), h.get());
    return h;
  }

  void notify() override { ++notifications; }
  void kick(const core::DisconnectInfo& why) override { kicks.push_back(why); }
  const std::string& peer_address() const override { return peer_; }
  void post(std::function<void()> task) override { posted.push_back(std::move(task)); }

  // Encodes and feeds packets; returns what the channel answered (decoded).
  std::vector<mqtt::Packet> send(const mqtt::Packet& p) {
    std::string bytes;
    mqtt::encode_packet(p, version(p), bytes);
    return feed(bytes);
  }
  std::vector<mqtt::Packet> feed(std::string_view bytes) {
    channel.on_bytes(bytes);
    return drain();
  }
  // Replays pending wake-ups (as the connection's executor would) and returns the output.
  std::vector<mqtt::Packet> pump() {
    for (auto& t : posted) t();
    posted.clear();
    for (auto& k : kicks) channel.on_kick(k);
    kicks.clear();
    notifications = 0;
    channel.on_notify();
    return drain();
  }
  std::vector<mqtt::Packet> drain() {
    std::vector<mqtt::Packet> out;
    std::string& bytes = channel.output();
    std::size_t off = 0;
    const std::uint8_t v = channel.protocol_level() ? channel.protocol_level() : mqtt::kV5;
    while (off < bytes.size()) {
      mqtt::Packet p;
      std::size_t used = 0;
      mqtt::DecodeError err;
      // Decode as the client would: server packets in the connection's protocol version.
      auto st = mqtt::decode_packet(std::string_view(bytes).substr(off), v, 0xFFFFFFF, p, used, err);
      if (st != mqtt::DecodeStatus::ok) break;
      out.push_back(std::move(p));
      off += used;
    }
    bytes.erase(0, off);
    return out;
  }

  core::Channel channel;
  int notifications = 0;
  std::vector<core::DisconnectInfo> kicks;
  std::vector<std::function<void()>> posted;  // SessionOwner::post tasks, run by pump()

 private:
  ChannelHarness(core::Broker& broker, std::string peer) : channel(broker, peer), peer_(std::move(peer)) {}
  std::uint8_t version(const mqtt::Packet& p) const {
    if (const auto* c = std::get_if<mqtt::Connect>(&p)) return c->protocol_level;
    return channel.protocol_level();
  }
  std::string peer_;
};

inline mqtt::Connect connect_v5(std::string id, bool clean = true, std::uint32_t expiry = 0) {
  mqtt::Connect c;
  c.protocol_level = mqtt::kV5;
  c.client_id = std::move(id);
  c.clean_start = clean;
  if (expiry) c.props.session_expiry = expiry;
  return c;
}

inline mqtt::Connect connect_v311(std::string id, bool clean = true) {
  mqtt::Connect c;
  c.protocol_level = mqtt::kV311;
  c.client_id = std::move(id);
  c.clean_start = clean;
  return c;
}

inline mqtt::Subscribe subscribe(std::uint16_t pid, std::string filter, std::uint8_t qos, std::uint32_t sub_id = 0) {
  mqtt::Subscribe s;
  s.packet_id = pid;
  s.entries.push_back({std::move(filter), mqtt::SubscribeOptions{qos}});
  if (sub_id) s.props.subscription_ids.push_back(sub_id);
  return s;
}

inline mqtt::Publish publish(std::string topic, std::string payload, std::uint8_t qos = 0, std::uint16_t pid = 0,
                             bool retain = false) {
  mqtt::Publish p;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  p.qos = qos;
  p.packet_id = pid;
  p.retain = retain;
  return p;
}

template <class T>
const T& as(const mqtt::Packet& p) {
  return std::get<T>(p);
}

}  // namespace tidemq::test
