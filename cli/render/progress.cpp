#include "cli/render/progress.hpp"

#include "common/base/units.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cli/render/format.hpp"

namespace drover::cli {

namespace {
constexpr std::size_t kMinNameWidth = 8;
constexpr auto kMinPrintInterval = std::chrono::seconds(1);
}  // namespace

std::size_t stage_name_width(const JobInfo& job) {
  std::size_t width = kMinNameWidth;
  for (const auto& stage : job.stages) width = std::max(width, stage.name.size());
  return width + 2;
}

std::string eta_text(std::int64_t eta_ms) {
  if (eta_ms < 0) return "-";
  if (eta_ms == 0) return "0s";
  return format_duration(std::chrono::seconds((eta_ms + 999) / 1000));
}

std::string stage_progress_line(const StageInfo& stage, std::size_t name_width) {
  const auto running = count_of(stage.counts, "running") + count_of(stage.counts, "assigned");
  std::string line = fmt::format("{:<{}}{}/{} succeeded  {} running  {} failed", stage.name,
                                 name_width, count_of(stage.counts, "succeeded"), stage.task_count,
                                 running, count_of(stage.counts, "failed"));
  if (stage.eta_ms > 0 && running > 0) line += "  eta " + eta_text(stage.eta_ms);
  return line;
}

std::vector<std::string> progress_lines(const JobInfo& job) {
  std::vector<std::string> lines;
  const std::size_t width = stage_name_width(job);
  for (const auto& stage : job.stages) lines.push_back(stage_progress_line(stage, width));
  return lines;
}

ProgressDisplay::ProgressDisplay(std::ostream& err, bool tty, const Clock& clock)
    : err_(err), tty_(tty), clock_(clock) {}

void ProgressDisplay::update(const JobInfo& job) {
  if (tty_) {
    redraw(progress_lines(job));
  } else {
    print_changed(job, false);
  }
}

void ProgressDisplay::finish(const JobInfo& job) {
  if (tty_) {
    redraw(progress_lines(job));
  } else {
    print_changed(job, true);
  }
}

void ProgressDisplay::redraw(const std::vector<std::string>& lines) {
  std::string text;
  if (drawn_lines_ > 0) text += fmt::format("\x1b[{}A", drawn_lines_);  // back to the block's top
  for (const auto& line : lines) text += "\r\x1b[2K" + line + "\n";
  for (std::size_t i = lines.size(); i < drawn_lines_; ++i) text += "\r\x1b[2K\n";
  drawn_lines_ = std::max(drawn_lines_, lines.size());
  err_ << text << std::flush;
}

void ProgressDisplay::print_changed(const JobInfo& job, bool force) {
  const auto now = clock_.steady_now();
  const std::size_t width = stage_name_width(job);
  for (const auto& stage : job.stages) {
    const std::string line = stage_progress_line(stage, width);
    auto shown = shown_.find(stage.name);
    if (shown != shown_.end() && shown->second == line) continue;
    auto at = shown_at_.find(stage.name);
    if (!force && at != shown_at_.end() && now - at->second < kMinPrintInterval) continue;
    err_ << line << "\n";
    shown_[stage.name] = line;
    shown_at_[stage.name] = now;
  }
  err_ << std::flush;
}

}  // namespace drover::cli
