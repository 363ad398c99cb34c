#include <catch2/catch.hpp>

#include "common/base/units.hpp"

using namespace drover;
using namespace std::chrono_literals;

TEST_CASE("durations parse and format", "[units]") {
  CHECK(parse_duration("500ms").value() == 500ms);
  CHECK(parse_duration("10s").value() == 10s);
  CHECK(parse_duration("5m").value() == 5min);
  CHECK(parse_duration("1h").value() == 1h);
  CHECK(parse_duration("7d").value() == 168h);
  CHECK(parse_duration("1m30s").value() == 90s);
  CHECK(parse_duration("0").value() == 0ms);
  for (const char* bad : {"", "10", "s", "10x", "-5s", "1.5s", "10 s"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).ok());
  }
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(0ms) == "0s");
}

TEST_CASE("sizes parse and format", "[units]") {
  CHECK(parse_size("512Mi").value() == 512ULL << 20);
  CHECK(parse_size("4Gi").value() == 4ULL << 30);
  CHECK(parse_size("1000").value() == 1000);
  CHECK(parse_size("10k").value() == 10000);
  CHECK(parse_size("2M").value() == 2000000);
  for (const char* bad : {"", "Mi", "5X", "-1", "1.5Gi", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).ok());
  }
  CHECK(format_size(512ULL << 20) == "512Mi");
  CHECK(format_size(300) == "300");
}
