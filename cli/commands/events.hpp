#pragma once
// drover events JOB [--follow]: the job's durable event log, one line per
// event; with --follow, new events as they are committed, until the job ends.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct EventsArgs {
  std::string job;
  bool follow = false;
};

CLI::App* add_events_command(CLI::App& app, EventsArgs& args);
int run_events(CommandContext& ctx, const EventsArgs& args);

// "2026-11-28T01:02:03.456Z  failed        map/3 #1 on w2  exit_code: exit code 3"
std::string render_event(const JobEvent& event);

// Whether the event ends its job's log (the job reached a final state).
bool is_job_end(const JobEvent& event);

}  // namespace drover::cli
