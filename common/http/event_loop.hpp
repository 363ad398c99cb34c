#pragma once
// A single-threaded event loop (an asio::io_context behind a pimpl) so that
// domain code can post work and set timers without seeing Asio.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/base/units.hpp"

namespace drover::http {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `fn` on the loop thread. Safe from any thread.
  void post(std::function<void()> fn);

  // One-shot timer; returns an id for cancel(). Call from the loop thread.
  using TimerId = std::uint64_t;
  TimerId call_after(Duration delay, std::function<void()> fn);
  void cancel(TimerId id);

  // Calls `fn` on the loop thread for each delivery of one of `signals`.
  void on_signals(std::vector<int> signals, std::function<void(int)> fn);

  // Runs until stop(); returns when no work is left or stop() was called.
  // Under load it lets work gather between batches (LoopPacer).
  void run();
  void stop();  // safe from any thread

  // How many times run() paused under load so far. Safe from any thread.
  std::uint64_t pauses() const;

  // The underlying asio::io_context, for common/http internals only.
  void* native();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::http
