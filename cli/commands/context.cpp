#include "cli/commands/context.hpp"

namespace drover::cli {

int report_error(const CommandContext& ctx, const Error& error) {
  ctx.err << "error: " << error.describe() << "\n" << std::flush;
  return cli_exit_code(error.code);
}

void print_json(const CommandContext& ctx, const nlohmann::json& value) {
  // Task inputs and logs may hold invalid UTF-8; replace rather than throw.
  ctx.out << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
          << std::flush;
}

}  // namespace drover::cli
