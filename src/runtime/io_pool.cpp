#include "runtime/io_pool.hpp"

#include <atomic>

#include <boost/asio/post.hpp>

namespace tidemq::runtime {

IoPool::IoPool(std::size_t data_threads) {
  if (data_threads == 0) data_threads = 1;
  for (std::size_t i = 0; i < data_threads; ++i) {
    data_.push_back(std::make_unique<Context>(1));
    guards_.emplace_back(data_.back()->get_executor());
  }
}

IoPool::~IoPool() {
  stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  // Destroy every pending handler while all services are still alive, then the contexts.
  control_.shutdown();
  for (auto& ctx : data_) ctx->shutdown();
}

boost::asio::io_context& IoPool::next_data() {
  auto& ctx = *data_[next_];
  next_ = (next_ + 1) % data_.size();
  return ctx;
}

void IoPool::after_data_threads(std::function<void()> then) {
  auto remaining = std::make_shared<std::atomic<std::size_t>>(data_.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (auto& ctx : data_)
    boost::asio::post(*ctx, [this, remaining, shared_then] {
      if (remaining->fetch_sub(1) == 1) boost::asio::post(control_, [shared_then] { (*shared_then)(); });
    });
}

void IoPool::run() {
  for (auto& ctx : data_) threads_.emplace_back([c = ctx.get()] { c->run(); });
  auto control_guard = boost::asio::make_work_guard(control_);
  control_.run();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void IoPool::stop() {
  for (auto& g : guards_) g.reset();
  for (auto& ctx : data_) ctx->stop();
  control_.stop();
}

}  // namespace tidemq::runtime
