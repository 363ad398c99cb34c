#include "cli/commands/events.hpp"

#include <ctime>

#include <fmt/format.h>

namespace drover::cli {

namespace {

constexpr Duration kFollowInterval = std::chrono::milliseconds(500);

std::string utc_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace

CLI::App* add_events_command(CLI::App& app, EventsArgs& args) {
  auto* cmd = app.add_subcommand("events", "Print a job's event log");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_flag("-f,--follow", args.follow, "Keep printing new events until the job ends");
  return cmd;
}

bool is_job_end(const JobEvent& e) {
  return e.stage.empty() && (e.type == "cancelled" || e.type.rfind("job_", 0) == 0);
}

std::string render_event(const JobEvent& e) {
  std::string subject = "-";
  if (!e.stage.empty()) {
    subject = e.index >= 0 ? fmt::format("{}/{}", e.stage, e.index) : e.stage;
    if (e.attempt > 0) subject += fmt::format(" #{}", e.attempt);
    if (!e.worker.empty()) subject += " on " + e.worker;
  }
  std::string detail = e.message;
  if (!e.reason.empty() && e.reason != e.message) {
    detail = detail.empty() ? e.reason : e.reason + ": " + detail;
  }
  return fmt::format("{}  {:<13} {:<20} {}", utc_time(e.time), e.type, subject, detail);
}

int run_events(CommandContext& ctx, const EventsArgs& args) {
  std::int64_t after = 0;
  bool ended_before = false;  // the job had ended before the previous round
  for (;;) {
    // The job's state comes from the master's memory, its events from the
    // store: a job seen ended gets one more round, as its end event may still
    // be committing. Normally the end event itself stops the loop.
    bool ended = false;
    if (args.follow) {
      auto job = ctx.api.get_job(args.job);
      if (!job) return report_error(ctx, job.error());
      ended = is_terminal(job->state);
    }
    bool saw_end = false;
    for (;;) {  // every page that is there now
      auto page = ctx.api.list_events(args.job, after);
      if (!page) return report_error(ctx, page.error());
      for (const JobEvent& e : page->events) {
        if (ctx.json()) {
          ctx.out << nlohmann::json(e).dump() << '\n';
        } else {
          ctx.out << render_event(e) << '\n';
        }
        after = e.seq;
        saw_end = saw_end || is_job_end(e);
      }
      ctx.out << std::flush;
      if (page->next.empty()) break;
    }
    if (!args.follow || saw_end || ended_before) return 0;
    ended_before = ended;
    if (ctx.stop_requested()) return 1;
    ctx.sleep(kFollowInterval);
  }
}

}  // namespace drover::cli
