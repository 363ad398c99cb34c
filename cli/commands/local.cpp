#include "cli/commands/local.hpp"

#include <fmt/format.h>

#include "cli/bundle/bundle_packer.hpp"
#include "cli/commands/output.hpp"
#include "cli/commands/wait.hpp"
#include "cli/local/signal_guard.hpp"
#include "common/fs/fs.hpp"

namespace drover::cli {

namespace {

constexpr int kInterruptedExit = 130;  // 128 + SIGINT, as shells report it

// What the run of the job produced.
struct LocalOutcome {
  int exit_code = 1;
  bool interrupted = false;
  std::optional<JobInfo> job;
  std::optional<OutputSummary> output;
};

LocalOutcome run_job(CommandContext& ctx, PackedBundle bundle, const LocalArgs& args) {
  LocalOutcome outcome;
  auto submitted = ctx.api.submit_job(std::move(bundle.archive), SubmitParams{});
  if (!submitted) {
    outcome.exit_code = report_error(ctx, submitted.error());
    return outcome;
  }
  ctx.err << fmt::format("submitted job {} ({})\n", submitted->id, submitted->name);
  auto done = wait_for_job(ctx, submitted->id);
  if (!done) {
    outcome.interrupted = ctx.stop_requested();
    if (outcome.interrupted) {
      ctx.err << "interrupted: cancelling job " << submitted->id << " and stopping\n" << std::flush;
      (void)ctx.api.cancel_job(submitted->id);
    }
    outcome.exit_code = outcome.interrupted ? kInterruptedExit : report_error(ctx, done.error());
    return outcome;
  }
  report_job_end(ctx, *done);
  outcome.job = *done;
  outcome.exit_code = job_exit_code(done->state);
  if (done->state != JobState::succeeded && done->state != JobState::partial) return outcome;
  auto output = download_outputs(ctx, done->id, "", args.to);
  if (!output) {
    (void)report_error(ctx, output.error());
    if (outcome.exit_code == 0) outcome.exit_code = 1;
    return outcome;
  }
  outcome.output = *output;
  if (!output->missing.empty() && outcome.exit_code == 0) outcome.exit_code = 1;
  return outcome;
}

void print_outcome(const CommandContext& ctx, const LocalOutcome& outcome) {
  if (outcome.output) {
    ctx.err << fmt::format("{} task outputs of stage {} in {}\n", outcome.output->downloaded,
                           outcome.output->stage, outcome.output->dir.string());
  }
  if (ctx.json() && outcome.job) {
    nlohmann::json body{{"job", *outcome.job}};
    if (outcome.output) body["output"] = output_summary_json(*outcome.output);
    print_json(ctx, body);
  } else if (outcome.output) {
    ctx.out << outcome.output->dir.string() << "\n" << std::flush;
  }
}

int default_workers(const LocalArgs& args, const LocalEnvironment& env) {
  if (args.workers > 0) return args.workers;
  return static_cast<int>(std::max(1u, env.hardware_threads));
}

}  // namespace

CLI::App* add_local_command(CLI::App& app, LocalArgs& args) {
  auto* cmd =
      app.add_subcommand("local", "Run a job on a private master and workers on this machine");
  cmd->add_option("BUNDLE", args.bundle, "Bundle directory with job.yaml, or a .tar.gz")
      ->required();
  cmd->add_option("--workers", args.workers, "Number of workers (default: one per core)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--to", args.to, "Where the last stage's outputs go (default: ./output)");
  return cmd;
}

int run_local(CommandContext& ctx, const LocalArgs& args, const LocalEnvironment& env) {
  auto bundle = pack_bundle(args.bundle);
  if (!bundle) return report_error(ctx, bundle.error());
  auto dir = make_temp_dir("drover-local-");
  if (!dir) return report_error(ctx, dir.error());
  SignalGuard signals{SIGINT, SIGTERM};
  CommandContext cluster_ctx = ctx;
  cluster_ctx.interrupted = [&signals] { return signals.pending(); };
  LocalCluster cluster({*dir, env.bin_dir, default_workers(args, env), env.running_as_root},
                       cluster_ctx, env.connect);
  if (auto started = cluster.start(); !started) {
    const bool interrupted = signals.pending();
    cluster.stop();
    if (interrupted) {
      (void)drover::remove_all(*dir);
      return kInterruptedExit;
    }
    (void)report_error(ctx, started.error());
    ctx.err << "logs kept in " << dir->string() << "\n" << std::flush;
    return 1;
  }
  ctx.err << fmt::format("local cluster at {} with {} workers in {}\n", cluster.url(),
                         default_workers(args, env), dir->string());
  CommandContext job_ctx{cluster.api(), ctx.out,        ctx.err,   ctx.clock,
                         ctx.format,    ctx.err_is_tty, ctx.sleep, cluster_ctx.interrupted};
  LocalOutcome outcome = run_job(job_ctx, std::move(*bundle), args);
  print_outcome(ctx, outcome);
  cluster.stop();
  if (outcome.exit_code == 0 || outcome.interrupted) {
    (void)drover::remove_all(*dir);
  } else {
    ctx.err << "logs kept in " << dir->string() << "\n" << std::flush;
  }
  return outcome.exit_code;
}

}  // namespace drover::cli
