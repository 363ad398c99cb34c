#include "master/coordinator/crash_points.hpp"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace drover::master {

namespace {
constexpr CrashPoints::Point kAll[] = {
    CrashPoints::Point::after_submit_commit, CrashPoints::Point::assign_before_commit,
    CrashPoints::Point::assign_after_commit, CrashPoints::Point::finish_before_commit,
    CrashPoints::Point::finish_after_commit, CrashPoints::Point::blob_mid_write,
};
}  // namespace

std::string_view to_string(CrashPoints::Point p) {
  switch (p) {
    case CrashPoints::Point::after_submit_commit: return "after_submit_commit";
    case CrashPoints::Point::assign_before_commit: return "assign_before_commit";
    case CrashPoints::Point::assign_after_commit: return "assign_after_commit";
    case CrashPoints::Point::finish_before_commit: return "finish_before_commit";
    case CrashPoints::Point::finish_after_commit: return "finish_after_commit";
    case CrashPoints::Point::blob_mid_write: return "blob_mid_write";
  }
  return "?";
}

Result<CrashPoints> CrashPoints::parse(std::string_view spec) {
  CrashPoints out;
  if (spec.empty()) return out;
  std::string_view name = spec.substr(0, spec.find(':'));
  for (Point p : kAll) {
    if (to_string(p) == name) out.point_ = p;
  }
  if (!out.point_) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("DROVER_CRASH_AT: unknown crash point '{}'", name));
  }
  if (name.size() < spec.size()) {
    std::string_view count = spec.substr(name.size() + 1);
    auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), out.n_);
    if (ec != std::errc{} || end != count.data() + count.size() || out.n_ < 1) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("DROVER_CRASH_AT: '{}' is not a count >= 1", count));
    }
  }
  return out;
}

void CrashPoints::reached(Point p) {
  if (point_ != p || ++seen_ != n_) return;
  spdlog::critical("crash point {} reached (time {}): exiting 137 (DROVER_CRASH_AT)", to_string(p),
                   n_);
  spdlog::default_logger()->flush();
  std::_Exit(137);
}

std::string CrashPoints::describe() const {
  if (!point_) return "off";
  return fmt::format("{}:{}", to_string(*point_), n_);
}

}  // namespace drover::master
