// drover-master: composition root. Parses the config, runs the server, maps
// failures to exit codes (2: bad config, 1: cannot start). The subcommands
// `init`, `backup` and `restore` run to completion instead of serving.
#include <iostream>
#include <string>
#include <vector>

#include "common/log/log.hpp"
#include "master/backup.hpp"
#include "master/config.hpp"
#include "master/init.hpp"
#include "master/master_server.hpp"

namespace {

// Runs one subcommand: --help prints `usage`; parse errors exit 2 with the usage;
// run errors exit 2 when they are invalid_argument, else 1.
template <typename Parse, typename Run>
int subcommand(const std::string& name, const std::vector<std::string>& rest, const std::string& usage,
               Parse parse, Run run) {
  if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
    std::cout << usage;
    return 0;
  }
  auto opts = parse(rest);
  if (!opts.ok()) {
    std::cerr << "drover-master " << name << ": " << opts.error().describe() << "\n" << usage;
    return 2;
  }
  auto printed = run(*opts);
  if (!printed.ok()) {
    std::cerr << "drover-master " << name << ": " << printed.error().describe() << "\n";
    return printed.error().code == drover::ErrorCode::invalid_argument ? 2 : 1;
  }
  std::cout << *printed;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace m = drover::master;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty()) {
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "init") return subcommand("init", rest, m::init_usage(), m::parse_init_args, m::run_init);
    if (args[0] == "backup") {
      return subcommand("backup", rest, m::backup_usage(), m::parse_backup_args, m::run_backup);
    }
    if (args[0] == "restore") {
      return subcommand("restore", rest, m::restore_usage(), m::parse_restore_args, m::run_restore);
    }
  }
  auto cfg = m::load_master_config(args);
  if (!cfg.ok()) {
    std::cerr << "drover-master: " << cfg.error().describe() << "\n";
    return 2;
  }
  if (cfg->help_requested) {
    std::cout << cfg->help_text;
    return 0;
  }
  drover::init_logging("drover-master");
  m::MasterServer server(cfg->config);
  auto rc = server.run();
  if (!rc.ok()) {
    spdlog::error("cannot start: {}", rc.error().describe());
    // A config that names a bad file (tokens, certificates) is a bad config: 2.
    return rc.error().code == drover::ErrorCode::invalid_argument ? 2 : 1;
  }
  return *rc;
}
