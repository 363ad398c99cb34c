#pragma once
// drover logs JOB STAGE INDEX [--attempt N] [--stderr] [--follow]: writes an
// attempt's log bytes to stdout; with --follow keeps polling until the attempt
// has ended and no new bytes arrive.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct LogsArgs {
  std::string job;
  std::string stage;
  std::int64_t index = 0;
  std::optional<int> attempt;
  bool stderr_stream = false;
  bool follow = false;
};

CLI::App* add_logs_command(CLI::App& app, LogsArgs& args);
int run_logs(CommandContext& ctx, const LogsArgs& args);

}  // namespace drover::cli
