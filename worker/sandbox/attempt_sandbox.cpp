#include "worker/sandbox/attempt_sandbox.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "worker/sandbox/disk_space.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

namespace {

Error io_error(std::string what, const std::error_code& ec) {
  return make_error(ErrorCode::io, fmt::format("{}: {}", what, ec.message()));
}

// Stage names are validated by the master; refuse anything that could escape.
bool safe_segment(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

}  // namespace

AttemptPaths AttemptPaths::under(const fs::path& work_dir, std::int64_t attempt_id) {
  AttemptPaths p;
  p.root = work_dir / "attempts" / std::to_string(attempt_id);
  p.sandbox = p.root / "sandbox";
  p.input = p.root / "input";
  p.output = p.root / "output";
  p.checkpoint = p.root / "checkpoint";
  p.tmp = p.root / "tmp";
  p.stdout_file = p.root / "stdout";
  p.stderr_file = p.root / "stderr";
  p.progress_file = p.root / "progress";
  return p;
}

Status reset_work_dir(const fs::path& work_dir) {
  std::error_code ec;
  fs::remove_all(work_dir / "attempts", ec);
  if (ec) return io_error("cannot clear " + (work_dir / "attempts").string(), ec);
  fs::create_directories(work_dir / "attempts", ec);
  if (ec) return io_error("cannot create " + (work_dir / "attempts").string(), ec);
  return ok_status();
}

Status create_attempt_dirs(const AttemptPaths& paths, const fs::path& bundle_dir) {
  std::error_code ec;
  fs::remove_all(paths.root, ec);
  if (ec) return io_error("cannot clear attempt dir " + paths.root.string(), ec);
  for (const auto& dir : {paths.input, paths.output, paths.checkpoint, paths.tmp}) {
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create " + dir.string(), ec);
  }
  fs::copy(bundle_dir, paths.sandbox, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
           ec);
  if (ec) return io_error("cannot copy bundle into sandbox", ec);
  return ok_status();
}

Status unpacked_without_loss(Status unpacked, const fs::path& dest) {
  if (unpacked.ok() && filesystem_full(dest)) {
    return make_error(ErrorCode::io, fmt::format("cannot unpack into {}: {}", dest.string(),
                                                 std::strerror(ENOSPC)));
  }
  return unpacked;
}

namespace {

// Missing or corrupt, as opposed to unreachable or a local failure.
bool is_lineage_error(const Error& e) {
  return e.code == ErrorCode::not_found || e.code == ErrorCode::invalid_spec;
}

Status stage_one(const AttemptPaths& paths, const UpstreamOutput& up, BlobCache& cache) {
  auto blob = cache.blob(up.digest);
  if (!blob.ok()) return blob.error();
  fs::path dest = paths.input / up.stage / std::to_string(up.index);
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return io_error("cannot create " + dest.string(), ec);
  Status unpacked = unpacked_without_loss(unpack_archive_file(*blob, dest), dest);
  if (!unpacked.ok()) {
    // The blob matched its digest: unless our own disk failed, the output is corrupt.
    const Error& e = unpacked.error();
    bool local = is_disk_full(e, dest, filesystem_full) ||
                 (e.code == ErrorCode::io && e.message.rfind("cannot unpack", 0) == 0);
    return make_error(local ? ErrorCode::io : ErrorCode::invalid_spec,
                      fmt::format("unpack of {}/{} output failed: {}", up.stage, up.index,
                                  e.describe()));
  }
  return ok_status();
}

Error missing_error(const std::vector<UpstreamOutput>& missing) {
  std::string more =
      missing.size() > 1 ? fmt::format(" (and {} more)", missing.size() - 1) : std::string{};
  return make_error(ErrorCode::not_found,
                    fmt::format("upstream output {}/{} is missing or corrupt{}",
                                missing.front().stage, missing.front().index, more));
}

}  // namespace

Status stage_upstream(const AttemptPaths& paths, const std::vector<UpstreamOutput>& upstream,
                      BlobCache& cache, std::vector<UpstreamOutput>& missing) {
  missing.clear();
  for (const auto& up : upstream) {
    if (!safe_segment(up.stage)) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("bad upstream stage \"{}\"", up.stage));
    }
    Status staged = stage_one(paths, up, cache);
    if (staged.ok()) continue;
    if (!is_lineage_error(staged.error())) {
      if (!missing.empty()) break;
      return staged.error();
    }
    spdlog::warn("upstream output {}/{} ({}) is missing or corrupt: {}", up.stage, up.index,
                 up.digest, staged.error().describe());
    missing.push_back(up);
  }
  if (!missing.empty()) return missing_error(missing);
  return ok_status();
}

Status hand_over(const AttemptPaths& paths, const std::optional<TaskUser>& user) {
  if (user) {
    std::error_code ec;
    auto chown_one = [&](const fs::path& p) -> Status {
      if (lchown(p.c_str(), user->uid, user->gid) != 0) {
        return make_error(ErrorCode::io,
                          fmt::format("chown {}: {}", p.string(), std::strerror(errno)));
      }
      return ok_status();
    };
    DROVER_TRY(chown_one(paths.root));
    for (fs::recursive_directory_iterator it(paths.root, ec), end; !ec && it != end;
         it.increment(ec)) {
      DROVER_TRY(chown_one(it->path()));
    }
    if (ec) return io_error("cannot walk " + paths.root.string(), ec);
  }
  if (chmod(paths.root.c_str(), 0700) != 0) {
    return make_error(ErrorCode::io,
                      fmt::format("chmod {}: {}", paths.root.string(), std::strerror(errno)));
  }
  return ok_status();
}

}  // namespace drover::worker
