#pragma once
// Telling a full disk from other I/O failures, so that an attempt that ran out
// of space in work_dir fails as a drover_error that says so (SPEC §4.3: "disk").
// Pure apart from statvfs(2); thread-safe.
#include <filesystem>
#include <functional>
#include <string>

#include "common/base/error.hpp"

namespace drover::worker {

// True when the file system holding `path` has no block left for an
// unprivileged writer (statvfs f_bavail == 0). Injected into the runner so
// tests can fake a full disk.
using DiskFullProbe = std::function<bool(const std::filesystem::path& path)>;
bool filesystem_full(const std::filesystem::path& path);

// True when `e` is a write that failed for lack of space: its message carries
// ENOSPC/EDQUOT's text, or it is an io error while `probe(path)` says full.
bool is_disk_full(const Error& e, const std::filesystem::path& path, const DiskFullProbe& probe);

// "no space left on device in <path>: <what>"
std::string disk_full_message(const std::filesystem::path& path, const std::string& what);

}  // namespace drover::worker
