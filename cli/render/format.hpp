#pragma once
// Pure formatting of the values the CLI shows: ages, durations, slot counts,
// exit codes. Every function takes `now` as a value; none reads a clock.
#include <cstdint>
#include <map>
#include <string>

#include "common/base/clock.hpp"
#include "common/base/units.hpp"
#include "common/proto/task.hpp"

namespace drover::cli {

// How long ago something happened, compact: "0.4s", "12s", "5m", "3h", "2d".
// Negative values (clock skew) show as "0.0s".
std::string format_age(Duration age);

// Age of a wire timestamp (ms since epoch) at `now`; "-" when the timestamp is 0.
std::string format_age_since(std::int64_t at_ms, TimePoint now);

// A task's run time: "350ms", "12.3s", "4m05s", "1h02m".
std::string format_elapsed(Duration d);

// "1/4", "0.5/2": used and total CPU slots.
std::string format_slots(double used, double total);

// A number without trailing zeros: 2 -> "2", 0.5 -> "0.5".
std::string format_number(double value);

// Count of tasks in `state` in a counts-by-state map; 0 when absent.
std::int64_t count_of(const std::map<std::string, std::int64_t>& counts, const std::string& state);

// The latest attempt's run time: finished - started, or now - started while it
// runs, or "-" before it starts.
std::string attempt_duration(const AttemptInfo& attempt, TimePoint now);

// The latest attempt's exit: "0", "3", "sig 9", a failure reason when it did not
// exit ("lost_worker"), the reason appended when it adds information
// ("sig 9 (timeout)"), "-" while it has not ended.
std::string attempt_exit(const AttemptInfo& attempt);

}  // namespace drover::cli
