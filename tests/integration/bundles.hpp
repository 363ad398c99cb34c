#pragma once
// Small job bundles written by tests.
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace drover::test {

inline std::filesystem::path write_bundle(const std::filesystem::path& dir, const std::string& job_yaml,
                                          const std::map<std::string, std::string>& files = {}) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "job.yaml") << job_yaml;
  for (const auto& [name, content] : files) {
    std::filesystem::create_directories((dir / name).parent_path());
    std::ofstream(dir / name) << content;
  }
  return dir;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace drover::test
