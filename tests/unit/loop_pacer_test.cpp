#include "common/http/loop_pacer.hpp"

#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/http/event_loop.hpp"

using drover::http::LoopPacer;
using namespace std::chrono_literals;

namespace {

// Feeds the pacer batches of `per_batch` handlers every `every` for `span`,
// starting at `t` (moved on); returns how many of those batches it paused after.
int feed(LoopPacer& pacer, LoopPacer::Time& t, std::chrono::microseconds every,
         std::size_t per_batch, std::chrono::milliseconds span) {
  int paused = 0;
  for (const auto end = t + span; t < end; t += every) {
    if (pacer.after_batch(t, per_batch) > 0us) ++paused;
  }
  return paused;
}

}  // namespace

TEST_CASE("the loop never pauses when lightly loaded, a lone request or a burst") {
  LoopPacer pacer;
  LoopPacer::Time t{10s};
  CHECK(pacer.after_batch(t, 1) == 0us);
  // A task run end to end: a few thousand handlers a second.
  CHECK(feed(pacer, t, 500us, 2, 2s) == 0);
  // A burst of 200 handlers within a millisecond, then quiet: not a rate of load.
  CHECK(feed(pacer, t, 10us, 2, 1ms) == 0);
  t += 150ms;
  CHECK(pacer.after_batch(t, 1) == 0us);
}

TEST_CASE("under load the loop pauses after each batch, and stops once the load is gone") {
  LoopPacer pacer;
  LoopPacer::Time t{10s};
  // 10,000 handlers a second, one per wake-up: known to be load after one window.
  const int paused = feed(pacer, t, 100us, 1, 300ms);
  CHECK(paused >= 1900);  // all batches after the first window
  CHECK(paused < 3000);
  CHECK(pacer.busy());
  CHECK(pacer.after_batch(t, 1) == LoopPacer::kPause);
  // With pauses, the same load arrives in fewer, larger batches: still load.
  CHECK(feed(pacer, t, 2000us, 20, 300ms) == 150);
  // Load that falls below the threshold stops the pauses after a window.
  CHECK(feed(pacer, t, 1ms, 2, 200ms) <= 100);
  CHECK(pacer.after_batch(t, 1) == 0us);
  // Load again, then quiet for a second: the next request is answered at once.
  feed(pacer, t, 100us, 1, 300ms);
  CHECK(pacer.after_batch(t, 1) == LoopPacer::kPause);
  t += 1s;
  CHECK(pacer.after_batch(t, 1) == 0us);
  CHECK_FALSE(pacer.busy());
}

TEST_CASE("the threshold is a rate: just below it does not pause, just above it does") {
  const auto rate = [](std::size_t per_ms) {
    LoopPacer pacer;
    LoopPacer::Time t{10s};
    feed(pacer, t, 1000us, per_ms, 250ms);
    return pacer.after_batch(t, per_ms);
  };
  CHECK(rate(LoopPacer::kBusyPerSecond / 1000 - 1) == 0us);
  CHECK(rate(LoopPacer::kBusyPerSecond / 1000 + 1) == LoopPacer::kPause);
}

TEST_CASE("an event loop under load pauses, runs every handler in order and stops when asked") {
  drover::http::EventLoop loop;
  std::vector<int> seen;  // loop thread only
  int posted = 0;         // producer thread only; read after join
  std::thread producer([&] {
    // 400 handlers a millisecond (over 8,000 a second even if a 1 ms sleep
    // takes 40) until the loop has paused a few times: the pacer needs 0.1 s
    // of load to notice it. At most 5,000 rounds.
    for (int round = 0; round < 5'000 && loop.pauses() < 3; ++round) {
      for (int k = 0; k < 400; ++k, ++posted) loop.post([&seen, i = posted] { seen.push_back(i); });
      std::this_thread::sleep_for(1ms);
    }
    loop.post([&loop] { loop.stop(); });
  });
  loop.run();
  producer.join();
  CHECK(loop.pauses() >= 3);
  REQUIRE(static_cast<int>(seen.size()) == posted);
  for (int i = 0; i < posted; ++i) {
    if (seen[static_cast<std::size_t>(i)] != i)
      FAIL("handler " << i << " ran as " << seen[static_cast<std::size_t>(i)]);
  }
}
