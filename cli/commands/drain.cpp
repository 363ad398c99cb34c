#include "cli/commands/drain.hpp"

namespace drover::cli {

CLI::App* add_drain_command(CLI::App& app, DrainArgs& args) {
  auto* cmd = app.add_subcommand("drain", "Drain a worker: no new tasks, running ones finish");
  cmd->add_option("WORKER", args.worker, "Worker id")->required();
  return cmd;
}

int run_drain(CommandContext& ctx, const DrainArgs& args) {
  auto answer = ctx.api.drain_worker(args.worker);
  if (!answer) return report_error(ctx, answer.error());
  if (ctx.json()) {
    print_json(ctx, answer->empty() ? nlohmann::json{{"worker", args.worker}} : *answer);
    return 0;
  }
  std::string state = "draining";
  if (answer->is_object() && answer->contains("state") && (*answer)["state"].is_string()) {
    state = (*answer)["state"].get<std::string>();
  }
  ctx.out << args.worker << " " << state << "\n" << std::flush;
  return 0;
}

}  // namespace drover::cli
