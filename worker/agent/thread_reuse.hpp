#pragma once
// ThreadReuse: runs jobs on threads that stay for the next job instead of
// ending with this one. Each attempt runs on a thread of its own; making and
// ending one per attempt (clone, stack mapping, its release) was about 2% of
// all cpu with /bin/true tasks (tests/bench/perf.py, part a).
//
// A job goes to an idle thread, else to a new one: jobs never wait for each
// other. Up to `keep` idle threads stay; one more ends after its job (it is
// joined by the next run() or the destructor). Thread-safe. The destructor
// waits for running jobs: call it once none can still be running.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace drover::worker {

class ThreadReuse {
 public:
  explicit ThreadReuse(std::size_t keep) : keep_(keep) {}
  ~ThreadReuse();
  ThreadReuse(const ThreadReuse&) = delete;
  ThreadReuse& operator=(const ThreadReuse&) = delete;

  void run(std::function<void()> job);

  std::size_t threads() const;  // alive or not yet joined (tests)
  std::size_t idle() const;     // waiting for a job (tests)

 private:
  struct Slot {
    std::thread thread;
    bool ended = false;
  };
  void loop(Slot* slot);
  void join_ended(std::unique_lock<std::mutex>& lock);

  const std::size_t keep_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::list<Slot> slots_;  // stable addresses
  std::size_t idle_ = 0;
  bool stop_ = false;
};

}  // namespace drover::worker
