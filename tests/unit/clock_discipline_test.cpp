// STYLE: only common/base/clock.cpp reads the system clock; everything else is handed a Clock.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

TEST_CASE("only clock.cpp reads the system clock", "[style]") {
  const fs::path root = DROVER_SOURCE_DIR;
  std::vector<std::string> offenders;
  for (const char* dir : {"common", "master", "worker", "cli"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      auto ext = entry.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      if (entry.path() == root / "common" / "base" / "clock.cpp") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      if (s.find("system_clock::now(") != std::string::npos ||
          s.find("steady_clock::now(") != std::string::npos) {
        offenders.push_back(fs::relative(entry.path(), root).string());
      }
    }
  }
  INFO("files reading the clock directly: " << offenders.size());
  for (const auto& f : offenders) INFO(f);
  CHECK(offenders.empty());
}
