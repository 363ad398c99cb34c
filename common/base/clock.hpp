#pragma once
// Time as a value. Domain code never reads the system clock: it is handed a
// Clock (or a `now`). SystemClock in clock.cpp is the only place that reads it;
// a unit test enforces that.
#include <chrono>
#include <cstdint>

namespace drover {

// Milliseconds since the Unix epoch; what is stored and sent on the wire.
using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

inline std::int64_t to_millis(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint from_millis(std::int64_t ms) { return TimePoint{std::chrono::milliseconds{ms}}; }

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Monotonic time for deadlines and measuring; never stored or sent.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  std::chrono::steady_clock::time_point steady_now() const override;
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = from_millis(1'700'000'000'000)) : now_(start) {}
  TimePoint now() const override { return now_; }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point{now_.time_since_epoch()};
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace drover
