// One authenticated TCP link to a peer node. Reads frames on the control thread and hands them to
// the cluster; writes come from any thread (forwarded publishes from the data threads) into one
// buffer per link, so a burst of publishes leaves as a few large writes in the order sent.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "cluster/link_stream.hpp"
#include "cluster/wire.hpp"

namespace tidemq::cluster {

// What this node tells a peer during the handshake.
struct HandshakeInfo {
  std::string node_name;
  std::string cookie;
  std::string cluster_host;
  std::uint16_t cluster_port = 0;
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  using FrameHandler = std::function<void(Link&, FrameType, std::string_view)>;
  using CloseHandler = std::function<void(Link&, const std::string& why)>;

  Link(std::unique_ptr<LinkStream> stream, std::string peer, bool initiator, FrameReader leftover);
  ~Link();

  const std::string& peer() const { return peer_; }
  bool initiator() const { return initiator_; }  // this node opened the connection
  std::uint64_t id() const { return id_; }
  // Where the peer's cluster listener is, as it announced it (accepted links only).
  std::string announced_host;
  std::uint16_t announced_port = 0;

  // Control thread: starts reading; `on_close` runs once, when the link fails or close() is called.
  void start(FrameHandler on_frame, CloseHandler on_close);
  void close(const std::string& why);
  // Closes once what is already queued has been written (the last words before leaving).
  void close_when_sent(std::string why);

  // Any thread.
  void send(FrameType type, std::string_view payload);
  // False when a QoS 0 record was dropped because the peer is not reading (see link.cpp's
  // limits); QoS 1/2 records are always queued (the caller checks full_for_reliable() first).
  bool send_forward(const ForwardRecord& r, util::TimePoint now);
  bool full_for_reliable() const;
  void send_deliver(const DirectDelivery& d, util::TimePoint now);
  std::size_t queued_bytes() const;

 private:
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void schedule_write();  // mutex held
  void closed(const std::string& why);

  std::unique_ptr<LinkStream> stream_;
  std::string peer_;
  bool initiator_;
  std::uint64_t id_;
  FrameReader reader_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  bool closed_ = false;  // control thread

  mutable std::mutex mu_;
  std::string pending_;             // frames not yet handed to the socket
  std::size_t open_batch_ = std::string::npos;
  bool write_scheduled_ = false;
  bool dead_ = false;               // no more writes accepted
  bool closing_ = false;            // close_when_sent: no more writes, close when drained
  std::string closing_why_;
  std::string writing_;             // the buffer being written (control thread)
};

// The two sides of the cookie handshake. On success the returned link (not started yet) has taken
// `stream`; on failure it is null and `error` says why. `stream` is a reference, not a value: GCC 12
// loses by-value unique_ptr parameters of coroutines (the frame copy is garbage).
// A non-empty `refusal` turns a peer that passed the cookie check away with that reason.
boost::asio::awaitable<std::shared_ptr<Link>> handshake_accept(std::unique_ptr<LinkStream>& stream, const HandshakeInfo& me,
                                                               std::string refusal, std::string& error);
boost::asio::awaitable<std::shared_ptr<Link>> handshake_connect(std::unique_ptr<LinkStream>& stream, const HandshakeInfo& me,
                                                                const std::string& expected_peer, std::string& error);

}  // namespace tidemq::cluster
