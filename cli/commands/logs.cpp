#include "cli/commands/logs.hpp"

namespace drover::cli {

namespace {
constexpr Duration kFollowInterval = std::chrono::milliseconds(200);
}  // namespace

CLI::App* add_logs_command(CLI::App& app, LogsArgs& args) {
  auto* cmd = app.add_subcommand("logs", "Print an attempt's logs, live while it runs");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_option("STAGE", args.stage, "Stage name")->required();
  cmd->add_option("INDEX", args.index, "Task index")->required()->check(CLI::NonNegativeNumber);
  cmd->add_option("--attempt", args.attempt, "Attempt number (default: the latest)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--stderr", args.stderr_stream, "Show stderr instead of stdout");
  cmd->add_flag("-f,--follow", args.follow, "Keep printing new output until the attempt ends");
  return cmd;
}

int run_logs(CommandContext& ctx, const LogsArgs& args) {
  LogQuery query{args.job, args.stage, args.index, args.stderr_stream, args.attempt, 0};
  for (;;) {
    auto chunk = ctx.api.read_logs(query);
    if (!chunk) return report_error(ctx, chunk.error());
    ctx.out << chunk->data << std::flush;
    query.offset += chunk->data.size();
    // Stay on the attempt first shown, so offsets keep meaning the same stream.
    if (!query.attempt && chunk->attempt > 0) query.attempt = chunk->attempt;
    if (!args.follow) return 0;
    const bool ended = chunk->attempt_state && is_terminal(*chunk->attempt_state);
    if (ended && chunk->data.empty()) return 0;
    if (ctx.stop_requested()) return 1;
    if (chunk->data.empty()) ctx.sleep(kFollowInterval);
  }
}

}  // namespace drover::cli
