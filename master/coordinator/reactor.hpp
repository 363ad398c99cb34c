#pragma once
// What the coordinator needs from its executor: run something later on the
// same strand, and one-shot timers. EventLoopReactor adapts http::EventLoop;
// tests use ManualReactor and drive it by hand.
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "common/base/units.hpp"
#include "common/http/event_loop.hpp"

namespace drover::master {

class Reactor {
 public:
  using TimerId = std::uint64_t;
  virtual ~Reactor() = default;
  virtual void post(std::function<void()> fn) = 0;
  virtual TimerId call_after(Duration delay, std::function<void()> fn) = 0;
  virtual void cancel(TimerId id) = 0;
};

class EventLoopReactor final : public Reactor {
 public:
  explicit EventLoopReactor(http::EventLoop& loop) : loop_(loop) {}
  void post(std::function<void()> fn) override { loop_.post(std::move(fn)); }
  TimerId call_after(Duration d, std::function<void()> fn) override {
    return loop_.call_after(d, std::move(fn));
  }
  void cancel(TimerId id) override { loop_.cancel(id); }

 private:
  http::EventLoop& loop_;
};

// Single-threaded, deterministic: run_ready() runs posted work; fire_timers()
// runs every timer (tests advance their ManualClock first).
class ManualReactor final : public Reactor {
 public:
  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }
  TimerId call_after(Duration d, std::function<void()> fn) override {
    timers_.emplace(++next_, std::make_pair(d, std::move(fn)));
    return next_;
  }
  void cancel(TimerId id) override { timers_.erase(id); }

  // Runs posted work until none is left (work may post more). Returns how many ran.
  int run_ready() {
    int n = 0;
    while (!posted_.empty()) {
      auto fn = std::move(posted_.front());
      posted_.erase(posted_.begin());
      fn();
      ++n;
    }
    return n;
  }
  // Fires every pending timer once (those set while firing wait for the next call).
  void fire_timers() {
    auto timers = std::move(timers_);
    timers_.clear();
    for (auto& [id, t] : timers) t.second();
    run_ready();
  }
  std::size_t timer_count() const { return timers_.size(); }

 private:
  std::vector<std::function<void()>> posted_;
  std::map<TimerId, std::pair<Duration, std::function<void()>>> timers_;
  TimerId next_ = 0;
};

}  // namespace drover::master
