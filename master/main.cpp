// drover-master: composition root. Parses the config, runs the server, maps
// failures to exit codes (2: bad config, 1: cannot start).
#include <iostream>
#include <string>
#include <vector>

#include "common/log/log.hpp"
#include "master/config.hpp"
#include "master/master_server.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
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
    return 1;
  }
  return *rc;
}
