#include "cli/commands/workers.hpp"

#include "cli/render/format.hpp"
#include "cli/render/table.hpp"

namespace drover::cli {

CLI::App* add_workers_command(CLI::App& app, WorkersArgs&) {
  return app.add_subcommand("workers", "List workers with state, slots and heartbeat age");
}

std::string render_workers_table(const std::vector<WorkerInfo>& workers) {
  Table table({"ID", "ADDRESS", "STATE", "SLOTS", "RUNNING", "HEARTBEAT"});
  for (const auto& w : workers) {
    table.add_row({w.id, w.address, std::string(to_string(w.state)),
                   format_slots(w.cpus_used, w.cpus), std::to_string(w.running),
                   format_age(Duration{w.heartbeat_age_ms})});
  }
  return table.render();
}

int run_workers(CommandContext& ctx, const WorkersArgs&) {
  auto workers = ctx.api.list_workers();
  if (!workers) return report_error(ctx, workers.error());
  if (ctx.json()) {
    print_json(ctx, nlohmann::json{{"workers", *workers}});
  } else {
    ctx.out << render_workers_table(*workers) << std::flush;
  }
  return 0;
}

}  // namespace drover::cli
