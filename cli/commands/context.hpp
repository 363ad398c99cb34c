#pragma once
// What every command runs with: the master, the output streams, the format,
// and time. Built by the composition root (main.cpp via app.cpp) or by tests;
// commands never reach for globals, std::cout or the system clock.
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/client/master_api.hpp"
#include "common/base/clock.hpp"
#include "common/base/units.hpp"

namespace drover::cli {

enum class OutputFormat { table, json };

struct CommandContext {
  MasterApi& api;
  std::ostream& out;  // results
  std::ostream& err;  // progress and messages
  const Clock& clock;
  OutputFormat format = OutputFormat::table;
  bool err_is_tty = false;              // redraw progress in place
  std::function<void(Duration)> sleep;  // blocks the caller; tests advance a ManualClock
  std::function<bool()> interrupted;    // true once the user asked to stop (may be empty)

  bool json() const { return format == OutputFormat::json; }
  bool stop_requested() const { return interrupted && interrupted(); }
};

// Prints "error: <field>: <message>" to ctx.err and returns the exit code of
// the error (cli_exit_code).
int report_error(const CommandContext& ctx, const Error& error);

// Pretty JSON followed by a newline, to ctx.out.
void print_json(const CommandContext& ctx, const nlohmann::json& value);

}  // namespace drover::cli
