#pragma once
// StopSignal: the worker's shutdown flag with interruptible sleeps, and Backoff:
// 100 ms doubling to 5 s, jittered, for retrying an unreachable master.
// StopSignal is shared by every worker thread; Backoff belongs to one loop.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "common/base/units.hpp"

namespace drover::worker {

class StopSignal {
 public:
  void request_stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }
  bool stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }
  // Sleeps for `d`, or less when stop is requested. Returns stopping().
  bool sleep_for(Duration d) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [&] { return stopping_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
};

class Backoff {
 public:
  explicit Backoff(Duration first = std::chrono::milliseconds(100),
                   Duration max = std::chrono::seconds(5))
      : first_(first), max_(max), next_(first) {}

  // The next delay: the current step scaled by a random factor in [0.5, 1.0].
  Duration next() {
    // Seeded on first use: most Backoffs (one per report) never wait, and
    // seeding reads the kernel's entropy.
    if (!seeded_) {
      rng_.seed(std::random_device{}());
      seeded_ = true;
    }
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    auto d =
        Duration(static_cast<Duration::rep>(static_cast<double>(next_.count()) * jitter(rng_)));
    next_ = std::min(max_, next_ * 2);
    return d;
  }
  void reset() { next_ = first_; }

 private:
  Duration first_;
  Duration max_;
  Duration next_;
  std::minstd_rand rng_;
  bool seeded_ = false;
};

}  // namespace drover::worker
