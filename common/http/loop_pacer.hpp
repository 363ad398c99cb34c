#pragma once
// When an event loop should let work gather before it waits for more.
//
// Waking a sleeping thread costs more than most of what it is woken for. In
// the master at 10,000 heartbeats a second, one wake-up per request (its own,
// and the client's that its reply causes) took about a third of its cpu. So
// under load the loop pauses for a moment after each batch of handlers, and
// one wake-up then serves everything that arrived meanwhile. Idle or lightly
// loaded, it never pauses: a lone request is answered at once.
//
// Pure logic: the loop hands in the time and the handlers it ran.
#include <chrono>
#include <cstddef>

namespace drover::http {

class LoopPacer {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // Busy means at least kBusyPerSecond handlers a second over the last
  // window. One task at a time, submitted and run end to end, takes about
  // 2,000 a second; 1,300 tasks a second on two workers about 5,500, with
  // several handlers per wake-up already; 10,000 heartbeats a second take
  // 10,000, nearly one per wake-up.
  static constexpr std::size_t kBusyPerSecond = 8000;
  static constexpr std::chrono::milliseconds kWindow{100};
  // At 10,000 heartbeats a second, 2 ms gather about 25 of them per wake-up
  // and cost the master 23% of a core, where 0.5 ms (8 per wake-up) cost 27%.
  // Latency is the price: a request waits up to 2 ms more under that load.
  static constexpr std::chrono::microseconds kPause{2000};

  // Whether the last window was busy: the loop then runs all that is ready
  // as one batch; otherwise one handler is a batch.
  bool busy() const { return busy_; }

  // After a batch of `ran` handlers that finished at `now`: how long to pause
  // before looking for more work (zero: wait for it as usual).
  std::chrono::microseconds after_batch(Time now, std::size_t ran) {
    handlers_ += ran;
    const std::chrono::duration<double> elapsed = now - window_start_;
    if (elapsed >= kWindow) {
      busy_ = static_cast<double>(handlers_) >= kBusyPerSecond * elapsed.count();
      handlers_ = 0;
      window_start_ = now;
    }
    return busy_ ? kPause : std::chrono::microseconds{0};
  }

 private:
  Time window_start_{};
  std::size_t handlers_ = 0;
  bool busy_ = false;
};

}  // namespace drover::http
