#pragma once
// Live per-stage progress of a job on stderr.
//
//   count     120/200 succeeded  4 running  0 failed
//   merge       0/4 succeeded  0 running  0 failed
//
// On a terminal the block is redrawn in place with ANSI escapes; otherwise a
// stage's line is printed only when it changed, at most once a second per
// stage, so logs of CI runs stay short. Owned by the command that waits; runs
// on its thread.
#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "common/proto/job.hpp"

namespace drover::cli {

// Width of the stage-name column for a job: longest name (at least 8) + 2.
std::size_t stage_name_width(const JobInfo& job);

// "count     120/200 succeeded  4 running  0 failed" (running includes assigned).
// "1m30s" for an ETA in ms; "-" when unknown (-1); "0s" when done.
std::string eta_text(std::int64_t eta_ms);

std::string stage_progress_line(const StageInfo& stage, std::size_t name_width);

// One line per stage, in spec order.
std::vector<std::string> progress_lines(const JobInfo& job);

class ProgressDisplay {
 public:
  ProgressDisplay(std::ostream& err, bool tty, const Clock& clock);

  // Shows the job's current progress (rate-limited when not a TTY).
  void update(const JobInfo& job);
  // Shows the final progress: every line that changed since last shown.
  void finish(const JobInfo& job);

 private:
  void redraw(const std::vector<std::string>& lines);
  void print_changed(const JobInfo& job, bool force);

  std::ostream& err_;
  bool tty_;
  const Clock& clock_;
  std::size_t drawn_lines_ = 0;               // TTY: lines of the block currently on screen
  std::map<std::string, std::string> shown_;  // stage -> line last printed
  std::map<std::string, std::chrono::steady_clock::time_point> shown_at_;
};

}  // namespace drover::cli
