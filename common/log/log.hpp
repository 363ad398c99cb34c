#pragma once
// Logging: one line per event to stderr (journald collects it), via spdlog.
#include <string_view>

#include <spdlog/spdlog.h>

namespace drover {

// Sets the default logger: stderr, "<program> <level> message" lines, level
// from $DROVER_LOG_LEVEL (trace|debug|info|warn|error; default info).
void init_logging(std::string_view program);

}  // namespace drover
