#include "cli/app.hpp"

namespace drover::cli {

namespace {

void add_global_options(CLI::App& app, GlobalOptions& global) {
  app.add_option("--master", global.master, "Master URL")
      ->envname("DROVER_MASTER")
      ->capture_default_str();
  app.add_option("--token", global.token, "Bearer token")->envname("DROVER_TOKEN");
  app.add_option("--ca", global.ca, "CA certificate file for https masters");
  app.add_option("-o,--output", global.output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

void add_commands(CLI::App& app, Invocation& inv) {
  for (CLI::App* cmd : {add_submit_command(app, inv.submit), add_wait_command(app, inv.wait),
                        add_status_command(app, inv.status), add_tasks_command(app, inv.tasks),
                        add_logs_command(app, inv.logs), add_events_command(app, inv.events),
                        add_output_command(app, inv.output),
                        add_cancel_command(app, inv.cancel), add_rerun_command(app, inv.rerun),
                        add_workers_command(app, inv.workers), add_drain_command(app, inv.drain),
                        add_local_command(app, inv.local)}) {
    cmd->fallthrough();  // global flags may follow the command: `drover status -o json`
  }
}

int dispatch(const Invocation& inv, CommandContext& ctx, Runtime& rt) {
  const std::string& c = inv.command;
  if (c == "submit") return run_submit(ctx, inv.submit);
  if (c == "wait") return run_wait(ctx, inv.wait);
  if (c == "status") return run_status(ctx, inv.status);
  if (c == "tasks") return run_tasks(ctx, inv.tasks);
  if (c == "logs") return run_logs(ctx, inv.logs);
  if (c == "events") return run_events(ctx, inv.events);
  if (c == "output") return run_output(ctx, inv.output);
  if (c == "cancel") return run_cancel(ctx, inv.cancel);
  if (c == "rerun") return run_rerun(ctx, inv.rerun);
  if (c == "workers") return run_workers(ctx, inv.workers);
  if (c == "drain") return run_drain(ctx, inv.drain);
  if (c == "local") {
    LocalEnvironment env{[&rt](const std::string& url) {
                           return rt.connect(MasterConnection{url, {}, {}});
                         },
                         rt.bin_dir, rt.hardware_threads, rt.running_as_root};
    return run_local(ctx, inv.local, env);
  }
  return report_error(ctx,
                      make_error(ErrorCode::invalid_argument, "unknown command \"" + c + "\""));
}

}  // namespace

std::unique_ptr<CLI::App> build_app(Invocation& invocation) {
  auto app = std::make_unique<CLI::App>("drover: submit and watch batch jobs on a drover cluster",
                                        "drover");
  add_global_options(*app, invocation.global);
  add_commands(*app, invocation);
  app->require_subcommand(1);
  return app;
}

std::optional<int> parse_command_line(CLI::App& app, Invocation& invocation, int argc,
                                      const char* const* argv, std::ostream& out,
                                      std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? 0 : 2;
  }
  for (const CLI::App* cmd : app.get_subcommands()) invocation.command = cmd->get_name();
  return std::nullopt;
}

int run_invocation(const Invocation& inv, Runtime& rt) {
  auto api = rt.connect(MasterConnection{inv.global.master, inv.global.token, inv.global.ca});
  CommandContext ctx{*api,
                     rt.out,
                     rt.err,
                     rt.clock,
                     inv.global.output == "json" ? OutputFormat::json : OutputFormat::table,
                     rt.err_is_tty,
                     rt.sleep,
                     {}};
  return dispatch(inv, ctx, rt);
}

}  // namespace drover::cli
