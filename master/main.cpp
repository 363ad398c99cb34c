// drover-master: composition root. Parses the config, runs the server, maps
// failures to exit codes (2: bad config, 1: cannot start).
#include <iostream>
#include <string>
#include <vector>

#include "common/log/log.hpp"
#include "master/config.hpp"
#include "master/init.hpp"
#include "master/master_server.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "init") {
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
      std::cout << drover::master::init_usage();
      return 0;
    }
    auto opts = drover::master::parse_init_args(rest);
    if (!opts.ok()) {
      std::cerr << "drover-master init: " << opts.error().describe() << "\n" << drover::master::init_usage();
      return 2;
    }
    auto printed = drover::master::run_init(*opts);
    if (!printed.ok()) {
      std::cerr << "drover-master init: " << printed.error().describe() << "\n";
      return printed.error().code == drover::ErrorCode::invalid_argument ? 2 : 1;
    }
    std::cout << *printed;
    return 0;
  }
  auto cfg = drover::master::load_master_config(args);
  if (!cfg.ok()) {
    std::cerr << "drover-master: " << cfg.error().describe() << "\n";
    return 2;
  }
  if (cfg->help_requested) {
    std::cout << cfg->help_text;
    return 0;
  }
  drover::init_logging("drover-master");
  drover::master::MasterServer server(cfg->config);
  auto rc = server.run();
  if (!rc.ok()) {
    spdlog::error("cannot start: {}", rc.error().describe());
    // A config that names a bad file (tokens, certificates) is a bad config: 2.
    return rc.error().code == drover::ErrorCode::invalid_argument ? 2 : 1;
  }
  return *rc;
}
