#include "cli/render/format.hpp"

#include <fmt/format.h>

#include <cmath>

#include "common/proto/assignment.hpp"

namespace drover::cli {

std::string format_age(Duration age) {
  const std::int64_t ms = std::max<std::int64_t>(age.count(), 0);
  if (ms < 10'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  const std::int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string format_age_since(std::int64_t at_ms, TimePoint now) {
  if (at_ms <= 0) return "-";
  return format_age(Duration{to_millis(now) - at_ms});
}

std::string format_elapsed(Duration d) {
  const std::int64_t ms = std::max<std::int64_t>(d.count(), 0);
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  const std::int64_t s = ms / 1000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string format_number(double value) {
  if (std::abs(value - std::round(value)) < 1e-9) {
    return fmt::format("{}", static_cast<std::int64_t>(std::llround(value)));
  }
  std::string text = fmt::format("{:.2f}", value);
  while (text.back() == '0') text.pop_back();
  return text;
}

std::string format_slots(double used, double total) {
  return format_number(used) + "/" + format_number(total);
}

std::int64_t count_of(const std::map<std::string, std::int64_t>& counts, const std::string& state) {
  auto it = counts.find(state);
  return it == counts.end() ? 0 : it->second;
}

std::string attempt_duration(const AttemptInfo& attempt, TimePoint now) {
  if (attempt.started_at <= 0) return "-";
  const std::int64_t end = attempt.finished_at > 0 ? attempt.finished_at : to_millis(now);
  return format_elapsed(Duration{end - attempt.started_at});
}

std::string attempt_exit(const AttemptInfo& attempt) {
  std::string base = "-";
  if (attempt.signal > 0) {
    base = fmt::format("sig {}", attempt.signal);
  } else if (attempt.exit_code >= 0 && is_terminal(attempt.state)) {
    base = std::to_string(attempt.exit_code);
  }
  const std::string& reason = attempt.reason;
  const bool informative =
      !reason.empty() && reason != FailureReason::exit_code && reason != FailureReason::signal;
  if (!informative || !is_terminal(attempt.state)) return base;
  return base == "-" ? reason : base + " (" + reason + ")";
}

}  // namespace drover::cli
