#pragma once
// drover output JOB [--stage S] --to DIR: downloads committed task outputs into
// DIR/<stage>/<index>/ (default stage: the last in spec order). Tasks without
// a committed output are reported; the exit code is then 1.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct OutputArgs {
  std::string job;
  std::string stage;  // empty: the last stage
  std::string to;
};

CLI::App* add_output_command(CLI::App& app, OutputArgs& args);
int run_output(CommandContext& ctx, const OutputArgs& args);

struct OutputSummary {
  std::string stage;
  std::filesystem::path dir;  // DIR/<stage>
  std::int64_t downloaded = 0;
  std::vector<std::int64_t> missing;  // task indexes without committed output
};

// Downloads every task's output of one stage; an error only when nothing
// sensible can continue (unknown job or stage, unreachable master, disk).
[[nodiscard]] Result<OutputSummary> download_outputs(CommandContext& ctx, const std::string& job,
                                                     const std::string& stage,
                                                     const std::filesystem::path& to);

// {"stage", "dir", "downloaded", "missing"}
nlohmann::json output_summary_json(const OutputSummary& summary);

// Prints the summary (stdout: DIR/<stage>, or JSON) and returns 0, or 1 when
// outputs were missing.
int report_outputs(const CommandContext& ctx, const OutputSummary& summary);

}  // namespace drover::cli
