#pragma once
// drover local BUNDLE [--workers N] [--to DIR]: the embedded default for one
// machine. Starts a private master and N workers in a temporary directory,
// runs the job, downloads the last stage's outputs, stops them. Exits like
// `wait`; 1 when the cluster could not start.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "cli/commands/context.hpp"
#include "cli/local/local_cluster.hpp"

namespace drover::cli {

struct LocalArgs {
  std::string bundle;
  int workers = 0;  // 0: one per hardware thread
  std::string to = "output";
};

// What `local` needs from the process around it.
struct LocalEnvironment {
  MasterConnector connect;
  std::filesystem::path bin_dir;  // where this executable lives
  unsigned hardware_threads = 1;
  bool running_as_root = false;
};

CLI::App* add_local_command(CLI::App& app, LocalArgs& args);
int run_local(CommandContext& ctx, const LocalArgs& args, const LocalEnvironment& env);

}  // namespace drover::cli
