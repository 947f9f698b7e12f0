// The threading model: N data io_contexts with one thread each (a connection stays on one for
// life, so its Channel is single-threaded) plus one control io_context for timers, listeners'
// accept loops and — later — cluster links, the admin API and plugins.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace tidemq::runtime {

class IoPool {
 public:
  explicit IoPool(std::size_t data_threads);
  ~IoPool();

  boost::asio::io_context& control() { return control_; }
  boost::asio::io_context& next_data();  // round-robin
  boost::asio::io_context& data(std::size_t i) { return *data_[i]; }
  std::size_t data_threads() const { return data_.size(); }
  // Runs `then` on the control context once every data thread has run what was queued on it
  // before this call (so every task in progress on a data thread has finished).
  void after_data_threads(std::function<void()> then);

  // Runs the data threads in the background and the control context on the calling thread
  // until stop(); then joins the data threads.
  void run();
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  // An io_context whose pending work can be destroyed before any context's services are: a
  // listener's pending accept on the control context holds a socket of a data context, so the
  // contexts must all be shut down before any of them is destroyed (found by AddressSanitizer).
  struct Context : boost::asio::io_context {
    using boost::asio::io_context::io_context;
    using boost::asio::execution_context::shutdown;
  };
  Context control_{1};
  std::vector<std::unique_ptr<Context>> data_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::size_t next_ = 0;
};

}  // namespace tidemq::runtime
