// ThreadReuse: attempts' threads are reused, never make a job wait, and are
// all joined.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/support.hpp"
#include "worker/agent/thread_reuse.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

// Jobs that block until released, recording the thread they ran on.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int running = 0, done = 0;
  std::set<std::thread::id> threads;
  std::function<void()> job() {
    return [this] {
      std::unique_lock lock(mu);
      ++running;
      threads.insert(std::this_thread::get_id());
      cv.notify_all();
      cv.wait_for(lock, 20s, [&] { return open; });  // bounded: a stuck test ends
      --running;
      ++done;
      cv.notify_all();
    };
  }
  bool wait(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, pred);
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("jobs run at once, each on a thread, and the threads are reused", "[worker][threads]") {
  Gate gate;
  std::set<std::thread::id> first;
  {
    ThreadReuse threads(4);
    for (int i = 0; i < 3; ++i) threads.run(gate.job());
    // None waits for another: all three run together.
    REQUIRE(gate.wait([&] { return gate.running == 3; }));
    gate.release();
    REQUIRE(gate.wait([&] { return gate.done == 3; }));
    first = gate.threads;
    CHECK(first.size() == 3);
    // Once all three are back waiting (a job's "done" comes before its thread
    // returns), the next jobs run on the same threads and make no new one.
    REQUIRE(test::wait_until([&] { return threads.idle() == 3; }, 10s));
    for (int i = 0; i < 3; ++i) threads.run(gate.job());
    REQUIRE(gate.wait([&] { return gate.done == 6; }));
    CHECK(gate.threads == first);
    CHECK(threads.threads() == 3);
  }  // joins them all
}

TEST_CASE("threads beyond keep end after their job and are joined", "[worker][threads]") {
  Gate gate;
  ThreadReuse threads(1);
  for (int i = 0; i < 4; ++i) threads.run(gate.job());
  REQUIRE(gate.wait([&] { return gate.running == 4; }));
  gate.release();
  REQUIRE(gate.wait([&] { return gate.done == 4; }));
  // One stays idle; the others end, and the next run() joins them.
  std::atomic<bool> ran{false};
  REQUIRE(test::wait_until(
      [&] {
        threads.run([&] { ran = true; });
        return threads.threads() == 1;
      },
      10s));
  REQUIRE(test::wait_until([&] { return ran.load(); }, 10s));
}
