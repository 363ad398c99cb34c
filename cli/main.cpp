// drover: the CLI. Composition root: parse argv, wire the real clock, HTTP
// client, streams and process facts into the commands, run, return the exit
// code of SPEC §5. Everything else lives in drover_cli_lib.
#include <csignal>
#include <unistd.h>

#include <exception>
#include <iostream>
#include <thread>

#include "cli/app.hpp"
#include "cli/client/http_master_api.hpp"
#include "common/proc/process.hpp"

namespace {

int run(int argc, char** argv) {
  using namespace drover;
  using namespace drover::cli;

  Invocation invocation;
  auto app = build_app(invocation);
  if (auto done = parse_command_line(*app, invocation, argc, argv, std::cout, std::cerr)) {
    return *done;
  }

  SystemClock clock;
  Runtime runtime{
      .out = std::cout,
      .err = std::cerr,
      .clock = clock,
      .err_is_tty = ::isatty(STDERR_FILENO) == 1,
      .sleep = [](Duration d) { std::this_thread::sleep_for(d); },
      .connect = [](const MasterConnection& connection) -> std::unique_ptr<MasterApi> {
        return std::make_unique<HttpMasterApi>(connection);
      },
      .bin_dir = executable_dir(),
      .hardware_threads = std::thread::hardware_concurrency(),
      .running_as_root = ::geteuid() == 0,
  };
  return run_invocation(invocation, runtime);
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdout/stderr (`drover local ... | head`) must not kill the CLI
  // mid-command: `drover local` would leave its private cluster running.
  std::signal(SIGPIPE, SIG_IGN);
  // Commands report expected failures as values; this only catches what a
  // library threw past its adapter (e.g. bad_alloc), so nothing escapes main.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    return 1;
  }
}
