#include "worker/sandbox/disk_space.hpp"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace drover::worker {

bool filesystem_full(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return false;
  return st.f_bavail == 0;
}

bool is_disk_full(const Error& e, const std::filesystem::path& path, const DiskFullProbe& probe) {
  for (int err : {ENOSPC, EDQUOT}) {
    if (e.message.find(std::strerror(err)) != std::string::npos) return true;
  }
  return e.code == ErrorCode::io && probe && probe(path);
}

std::string disk_full_message(const std::filesystem::path& path, const std::string& what) {
  return fmt::format("no space left on device in {}: {}", path.string(), what);
}

}  // namespace drover::worker
