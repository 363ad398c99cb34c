#pragma once
// What the coordinator needs from its executor: run something later on the
// same strand, one-shot timers, and blocking work (SQLite commits) off the
// strand. EventLoopReactor adapts http::EventLoop plus one background thread;
// tests use ManualReactor and drive it by hand.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
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
  // Runs `work` away from the strand (one at a time, in call order), then
  // `done` on the strand.
  virtual void run_blocking(std::function<void()> work, std::function<void()> done) = 0;
  // Blocks until no blocking work is queued or running (its `done` may never run).
  virtual void wait_idle() {}
};

// One thread running blocking jobs in order; the destructor finishes the
// queued ones and joins.
class BackgroundThread {
 public:
  BackgroundThread() : thread_([this] { loop(); }) {}
  ~BackgroundThread() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  void wait_idle() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return jobs_.empty() && !busy_; });
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        busy_ = true;
      }
      job();
      {
        std::lock_guard lock(mu_);
        busy_ = false;
      }
      idle_cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  bool busy_ = false;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

class EventLoopReactor final : public Reactor {
 public:
  explicit EventLoopReactor(http::EventLoop& loop) : loop_(loop) {}
  void post(std::function<void()> fn) override { loop_.post(std::move(fn)); }
  TimerId call_after(Duration d, std::function<void()> fn) override {
    return loop_.call_after(d, std::move(fn));
  }
  void cancel(TimerId id) override { loop_.cancel(id); }
  void run_blocking(std::function<void()> work, std::function<void()> done) override {
    background_.submit([this, work = std::move(work), done = std::move(done)]() mutable {
      work();
      loop_.post(std::move(done));
    });
  }
  void wait_idle() override { background_.wait_idle(); }

 private:
  http::EventLoop& loop_;
  BackgroundThread background_;  // declared last: joined first, while loop_ still exists
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
  void run_blocking(std::function<void()> work, std::function<void()> done) override {
    work();
    post(std::move(done));
  }

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
