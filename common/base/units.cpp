#include "common/base/units.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace drover {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  auto bad = [&] {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("bad duration \"{}\" (examples: 500ms, 10s, 5m, 1h, 7d)", text));
  };
  if (text == "0") return Duration{0};
  if (text.empty()) return bad();
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start) return bad();
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc{} || n > 1'000'000'000) return bad();
    std::size_t ustart = i;
    while (i < text.size() && !is_digit(text[i])) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    std::int64_t ms;
    if (unit == "ms") ms = 1;
    else if (unit == "s") ms = 1000;
    else if (unit == "m") ms = 60'000;
    else if (unit == "h") ms = 3'600'000;
    else if (unit == "d") ms = 86'400'000;
    else return bad();
    total += n * ms;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) { out = "-"; ms = -ms; }
  struct U { std::int64_t ms; const char* name; };
  for (U u : {U{86'400'000, "d"}, U{3'600'000, "h"}, U{60'000, "m"}, U{1000, "s"}, U{1, "ms"}}) {
    if (ms >= u.ms) {
      out += fmt::format("{}{}", ms / u.ms, u.name);
      ms %= u.ms;
    }
  }
  return out;
}

Result<std::uint64_t> parse_size(std::string_view text) {
  auto bad = [&] {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("bad size \"{}\" (examples: 512Mi, 4Gi, 1000000)", text));
  };
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == 0) return bad();
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (ec != std::errc{}) return bad();
  std::string_view unit = text.substr(i);
  std::uint64_t mult;
  if (unit.empty()) mult = 1;
  else if (unit == "k" || unit == "K") mult = 1000ULL;
  else if (unit == "M") mult = 1000ULL * 1000;
  else if (unit == "G") mult = 1000ULL * 1000 * 1000;
  else if (unit == "T") mult = 1000ULL * 1000 * 1000 * 1000;
  else if (unit == "Ki") mult = 1ULL << 10;
  else if (unit == "Mi") mult = 1ULL << 20;
  else if (unit == "Gi") mult = 1ULL << 30;
  else if (unit == "Ti") mult = 1ULL << 40;
  else return bad();
  if (n != 0 && mult > UINT64_MAX / n) return bad();
  return n * mult;
}

std::string format_size(std::uint64_t bytes) {
  struct U { std::uint64_t size; const char* name; };
  for (U u : {U{1ULL << 40, "Ti"}, U{1ULL << 30, "Gi"}, U{1ULL << 20, "Mi"}, U{1ULL << 10, "Ki"}}) {
    if (bytes >= u.size) {
      if (bytes % u.size == 0) return fmt::format("{}{}", bytes / u.size, u.name);
      return fmt::format("{:.1f}{}", static_cast<double>(bytes) / static_cast<double>(u.size), u.name);
    }
  }
  return std::to_string(bytes);
}

}  // namespace drover
