#pragma once
// The drover command line: global flags, one subcommand per file under
// commands/, and the dispatch from a parsed Invocation to a command. Parsing
// and running are separate so tests can parse argv without running anything.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cli/commands/cancel.hpp"
#include "cli/commands/drain.hpp"
#include "cli/commands/events.hpp"
#include "cli/commands/local.hpp"
#include "cli/commands/logs.hpp"
#include "cli/commands/output.hpp"
#include "cli/commands/rerun.hpp"
#include "cli/commands/status.hpp"
#include "cli/commands/submit.hpp"
#include "cli/commands/tasks.hpp"
#include "cli/commands/wait.hpp"
#include "cli/commands/workers.hpp"

namespace drover::cli {

struct GlobalOptions {
  std::string master = "http://127.0.0.1:7070";  // --master, $DROVER_MASTER
  std::string token;                             // --token, $DROVER_TOKEN
  std::string ca;                                // --ca FILE
  std::string output = "table";                  // -o json|table
};

// Everything argv said: the global flags, which command, and its arguments.
struct Invocation {
  GlobalOptions global;
  std::string command;  // the chosen subcommand's name
  SubmitArgs submit;
  WaitArgs wait;
  StatusArgs status;
  TasksArgs tasks;
  LogsArgs logs;
  EventsArgs events;
  OutputArgs output;
  CancelArgs cancel;
  RerunArgs rerun;
  WorkersArgs workers;
  DrainArgs drain;
  LocalArgs local;
};

// The CLI11 app that parses into `invocation` (which must outlive it).
std::unique_ptr<CLI::App> build_app(Invocation& invocation);

// Parses argv into `invocation`. nullopt: go on and run it. Otherwise the
// exit code to return at once: 0 after --help (printed to out), 2 on bad usage
// (CLI11's message on err). Never throws.
std::optional<int> parse_command_line(CLI::App& app, Invocation& invocation, int argc,
                                      const char* const* argv, std::ostream& out,
                                      std::ostream& err);

// What the process around the CLI provides (see main.cpp).
struct Runtime {
  std::ostream& out;
  std::ostream& err;
  const Clock& clock;
  bool err_is_tty = false;
  std::function<void(Duration)> sleep;
  std::function<std::unique_ptr<MasterApi>(const MasterConnection&)> connect;
  std::filesystem::path bin_dir;
  unsigned hardware_threads = 1;
  bool running_as_root = false;
};

// Runs the parsed command; returns the process exit code (SPEC §5).
int run_invocation(const Invocation& invocation, Runtime& runtime);

}  // namespace drover::cli
