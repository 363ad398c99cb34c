#pragma once
// Durations ("500ms", "10s", "5m", "1h", "7d") and sizes ("512Mi", "4Gi",
// "1000", "10k") as users write them in configs and job.yaml.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/result.hpp"

namespace drover {

using Duration = std::chrono::milliseconds;

// Accepts one or more <number><unit> groups ("1m30s"); units ms, s, m, h, d.
// A bare "0" is zero. Errors name no field; callers add it.
Result<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);  // "1m30s", "250ms", "0s"

// Accepts an integer with an optional suffix: k M G T (powers of 1000),
// Ki Mi Gi Ti (powers of 1024), or a plain byte count.
Result<std::uint64_t> parse_size(std::string_view text);
std::string format_size(std::uint64_t bytes);  // "512Mi", "1.5Gi", "300"

}  // namespace drover
