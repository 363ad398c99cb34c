#pragma once
// Fault injection for tests: DROVER_CRASH_AT=POINT[:N] (read once when drover-master
// starts) makes the master std::_Exit(137) — like a kill -9, no cleanup — the N-th
// time (default 1st) it reaches POINT. A default-constructed CrashPoints is inert:
// without the variable, reached() is a comparison against an empty optional.
#include <optional>
#include <string>
#include <string_view>

#include "common/base/result.hpp"

namespace drover::master {

class CrashPoints {
 public:
  enum class Point {
    after_submit_commit,   // a submit's transaction committed, before its reply
    assign_before_commit,  // attempts assigned in memory, before their transaction
    assign_after_commit,   // assignments committed, before delivery to workers' polls
    finish_before_commit,  // a successful attempt report applied in memory, before its commit
    finish_after_commit,   // that output commit is durable, before the worker's reply
    blob_mid_write,        // a blob upload wrote half of its temp file
  };

  CrashPoints() = default;  // inert
  // Parses "POINT[:N]" (N >= 1); an empty spec gives an inert value.
  static Result<CrashPoints> parse(std::string_view spec);

  bool armed(Point p) const { return point_ == p; }
  // Exits the process (137) the N-th time the armed point is reached; otherwise nothing.
  void reached(Point p);
  std::string describe() const;

 private:
  std::optional<Point> point_;
  int n_ = 1;
  int seen_ = 0;
};

std::string_view to_string(CrashPoints::Point p);

}  // namespace drover::master
