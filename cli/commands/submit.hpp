#pragma once
// drover submit BUNDLE [--name N] [--priority P] [--wait]: packs and uploads a
// bundle; prints the job id as the only stdout line (-o json: the job).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "cli/commands/context.hpp"

namespace drover::cli {

struct SubmitArgs {
  std::string bundle;
  std::optional<std::string> name;
  std::optional<std::int64_t> priority;
  bool wait = false;
};

CLI::App* add_submit_command(CLI::App& app, SubmitArgs& args);
int run_submit(CommandContext& ctx, const SubmitArgs& args);

// Packs (or reads) the bundle and uploads it; tells ctx.err what it sent.
[[nodiscard]] Result<JobInfo> submit_bundle(CommandContext& ctx, const std::string& bundle,
                                            const SubmitParams& params);

}  // namespace drover::cli
