#include "common/http/loop_pacer.hpp"

#include <catch2/catch.hpp>

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
  CHECK(pacer.after_batch(t, 1) == LoopPacer::kPause);
  // With pauses, the same load arrives in fewer, larger batches: still load.
  CHECK(feed(pacer, t, 500us, 5, 300ms) == 600);
  // Quiet for a second: the next request is answered at once.
  t += 1s;
  CHECK(pacer.after_batch(t, 1) == 0us);
  // Load that falls below the threshold stops the pauses within a window.
  feed(pacer, t, 1ms, 2, 200ms);
  CHECK(pacer.after_batch(t, 1) == 0us);
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
