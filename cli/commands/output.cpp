#include "cli/commands/output.hpp"

#include <fmt/format.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"

namespace drover::cli {

namespace fs = std::filesystem;

namespace {

Result<const StageInfo*> pick_stage(const JobInfo& job, const std::string& name) {
  if (job.stages.empty())
    return make_error(ErrorCode::not_found, "job " + job.id + " has no stages");
  if (name.empty()) return &job.stages.back();
  for (const auto& stage : job.stages) {
    if (stage.name == name) return &stage;
  }
  return make_error(ErrorCode::invalid_argument, "job " + job.id + " has no stage \"" + name + "\"",
                    "--stage");
}

// Replaces DIR/<stage>/<index> with the unpacked output.
Status unpack_task_output(const std::string& archive, const fs::path& dest) {
  DROVER_TRY(drover::remove_all(dest));
  DROVER_TRY(drover::make_dirs(dest));
  return unpack_archive(archive, dest, ArchiveLimits{1ULL << 40, 10'000'000});
}

}  // namespace

CLI::App* add_output_command(CLI::App& app, OutputArgs& args) {
  auto* cmd = app.add_subcommand("output", "Download committed outputs as DIR/<stage>/<index>/");
  cmd->add_option("JOB", args.job, "Job id")->required();
  cmd->add_option("--stage", args.stage, "Stage (default: the last one)");
  cmd->add_option("--to", args.to, "Destination directory")->required();
  return cmd;
}

Result<OutputSummary> download_outputs(CommandContext& ctx, const std::string& job_id,
                                       const std::string& stage_name, const fs::path& to) {
  auto job = ctx.api.get_job(job_id);
  if (!job) return job.error();
  auto stage = pick_stage(*job, stage_name);
  if (!stage) return stage.error();
  OutputSummary summary{(*stage)->name, to / (*stage)->name, 0, {}};
  for (std::int64_t index = 0; index < (*stage)->task_count; ++index) {
    auto archive = ctx.api.download_output(job_id, summary.stage, index);
    if (!archive && archive.error().code == ErrorCode::not_found) {
      ctx.err << fmt::format("{}[{}]: no committed output\n", summary.stage, index);
      summary.missing.push_back(index);
      continue;
    }
    if (!archive) return archive.error();
    const fs::path dest = summary.dir / std::to_string(index);
    if (auto unpacked = unpack_task_output(*archive, dest); !unpacked) {
      return make_error(unpacked.error().code, unpacked.error().message, dest.string());
    }
    ++summary.downloaded;
  }
  return summary;
}

nlohmann::json output_summary_json(const OutputSummary& summary) {
  return {{"stage", summary.stage},
          {"dir", summary.dir.string()},
          {"downloaded", summary.downloaded},
          {"missing", summary.missing}};
}

int report_outputs(const CommandContext& ctx, const OutputSummary& summary) {
  ctx.err << fmt::format("{} task outputs of stage {} in {}", summary.downloaded, summary.stage,
                         summary.dir.string());
  if (!summary.missing.empty()) ctx.err << fmt::format(", {} missing", summary.missing.size());
  ctx.err << "\n" << std::flush;
  if (ctx.json()) {
    print_json(ctx, output_summary_json(summary));
  } else {
    ctx.out << summary.dir.string() << "\n" << std::flush;
  }
  return summary.missing.empty() ? 0 : 1;
}

int run_output(CommandContext& ctx, const OutputArgs& args) {
  auto summary = download_outputs(ctx, args.job, args.stage, args.to);
  if (!summary) return report_error(ctx, summary.error());
  return report_outputs(ctx, *summary);
}

}  // namespace drover::cli
