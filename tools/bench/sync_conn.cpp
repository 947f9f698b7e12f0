// SyncConn: connect, send and read with poll() and deadlines.
#include "sync_conn.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>

#include "addresses.hpp"
#include "bench.hpp"
#include "clock.hpp"

namespace tidemq::bench {

namespace mq = tidemq::mqtt;
using tcp = boost::asio::ip::tcp;

void SyncConn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
}

bool SyncConn::connect(const boost::asio::ip::address& host, std::uint16_t port, const boost::asio::ip::address* src,
                       std::uint64_t deadline, std::string& err) {
  close();
  const tcp::endpoint ep(host, port);
  fd_ = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(err, fmt::format("socket: {}", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (src) {
    bind_address_no_port(fd_);
    tcp::endpoint local(*src, 0);
    if (::bind(fd_, local.data(), static_cast<socklen_t>(local.size())) != 0)
      return fail(err, fmt::format("bind {}: {}", src->to_string(), std::strerror(errno)));
  }
  if (::connect(fd_, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    if (errno != EINPROGRESS) return fail(err, fmt::format("connect: {}", std::strerror(errno)));
    if (!wait_fd(POLLOUT, deadline)) return fail(err, "TCP connect timeout");
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr) return fail(err, fmt::format("connect: {}", std::strerror(soerr)));
  }
  return true;
}

bool SyncConn::send(const mq::Packet& p, std::uint64_t deadline, std::string& err) {
  std::string out;
  mq::encode_packet(p, level_, out);
  std::size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(POLLOUT, deadline)) return fail(err, "write timeout");
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return fail(err, fmt::format("write: {}", std::strerror(errno)));
    }
  }
  return true;
}

SyncConn::Read SyncConn::read(mq::Packet& p, std::uint64_t deadline, std::string& err) {
  for (;;) {
    if (!rbuf_.empty()) {
      std::size_t consumed = 0;
      mq::DecodeError de;
      auto st = mq::decode_packet(rbuf_, level_, UINT32_MAX, p, consumed, de);
      if (st == mq::DecodeStatus::ok) {
        rbuf_.erase(0, consumed);
        return Read::packet;
      }
      if (st == mq::DecodeStatus::error) {
        err = fmt::format("malformed packet from the broker (0x{:02x}: {})", de.reason, de.message);
        return Read::error;
      }
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      rbuf_.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return Read::eof;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(POLLIN, deadline)) return Read::timeout;
    } else if (errno != EINTR) {
      err = fmt::format("read: {}", std::strerror(errno));
      return Read::error;
    }
  }
}

bool SyncConn::fail(std::string& err, std::string msg) {
  err = std::move(msg);
  close();
  return false;
}

bool SyncConn::wait_fd(short events, std::uint64_t deadline) {
  for (;;) {
    const std::uint64_t now = now_ns();
    if (now >= deadline) return false;
    pollfd pfd{fd_, events, 0};
    const int ms = static_cast<int>(std::min<std::uint64_t>((deadline - now + kMs - 1) / kMs, 1000));
    const int r = ::poll(&pfd, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (g_interrupted.load()) return false;
  }
}

}  // namespace tidemq::bench
