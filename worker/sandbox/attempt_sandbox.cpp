#include "worker/sandbox/attempt_sandbox.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
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
  p.input_list = p.root / "input_list";
  return p;
}

AttemptPaths AttemptPaths::under(const fs::path& work_dir, std::int64_t attempt_id,
                                 const fs::path& shared_root) {
  AttemptPaths p = under(work_dir, attempt_id);
  p.output = shared_root / "attempts" / ("a-" + std::to_string(attempt_id));
  p.shared_output = true;
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

Status create_attempt_dirs(const AttemptPaths& paths, const fs::path& bundle_dir,
                           SpareAttemptDirs* spares) {
  std::error_code ec;
  fs::remove_all(paths.root, ec);
  if (ec) return io_error("cannot clear attempt dir " + paths.root.string(), ec);
  if (paths.shared_output) {
    fs::remove_all(paths.output, ec);
    if (ec) return io_error("cannot clear output dir " + paths.output.string(), ec);
  }
  const bool spare = spares != nullptr && spares->take(paths.root);
  if (spare && paths.shared_output) {
    fs::remove(paths.root / "output", ec);  // the task's output dir is in the store
    if (ec) return io_error("cannot remove " + (paths.root / "output").string(), ec);
  }
  for (const auto& dir : {paths.input, paths.output, paths.checkpoint, paths.tmp}) {
    if (spare && (dir != paths.output || !paths.shared_output)) continue;
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create " + dir.string(), ec);
  }
  // Bundle files are hard links to the cached copy (read-only there): a bundle
  // with thousands of files costs links, not copies. Where links cannot be made
  // (another file system, a link limit), the files are copied.
  const auto tree = fs::copy_options::recursive | fs::copy_options::copy_symlinks;
  fs::copy(bundle_dir, paths.sandbox, tree | fs::copy_options::create_hard_links, ec);
  if (ec) {
    fs::remove_all(paths.sandbox, ec);
    fs::copy(bundle_dir, paths.sandbox, tree, ec);
  }
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

Status stage_blob(const UpstreamOutput& up, const fs::path& dest, BlobCache& cache,
                  std::int64_t partition) {
  auto blob = cache.blob(up.digest);
  if (!blob.ok()) return blob.error();
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return io_error("cannot create " + dest.string(), ec);
  Status unpacked =
      partition < 0 ? unpack_archive_file(*blob, dest)
                    : unpack_archive_file_subtree(*blob, std::to_string(partition), dest);
  unpacked = unpacked_without_loss(std::move(unpacked), dest);
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

// The directory a "shared:<rel>" ref names; invalid_argument when <rel> could
// leave the root, not_found when it does not exist (lineage), io when the
// mount cannot be read.
Result<fs::path> shared_output_dir(const UpstreamOutput& up, const fs::path& root) {
  std::string rel = shared_ref_path(up.digest);
  fs::path relative = fs::path(rel).lexically_normal();
  if (rel.empty() || relative.is_absolute() || relative.empty() || relative == "." ||
      *relative.begin() == "..") {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("bad upstream output ref \"{}\" for {}/{}", up.digest, up.stage,
                                  up.index));
  }
  fs::path dir = root / relative;
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
    return io_error("cannot read " + dir.string(), ec);
  }
  if (!fs::is_directory(st)) {
    return make_error(ErrorCode::not_found, fmt::format("{} does not exist", dir.string()));
  }
  return dir;
}

Status stage_shared(const UpstreamOutput& up, const fs::path& dest, const StagingOptions& options) {
  if (!options.shared_root) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("upstream output {}/{} is on a shared output store ({}), but "
                                  "the master gave this worker none",
                                  up.stage, up.index, up.digest));
  }
  auto dir = shared_output_dir(up, *options.shared_root);
  if (!dir.ok()) return dir.error();
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec) return io_error("cannot create " + dest.parent_path().string(), ec);
  fs::path target = *dir;
  if (options.partition >= 0) {
    target /= std::to_string(options.partition);
    if (!fs::is_directory(target, ec)) {  // no part for this reducer: an empty input
      fs::create_directory(dest, ec);
      if (ec) return io_error("cannot create " + dest.string(), ec);
      return ok_status();
    }
  }
  fs::create_directory_symlink(target, dest, ec);
  if (ec) return io_error("cannot link " + dest.string() + " to " + target.string(), ec);
  return ok_status();
}

Status stage_one(const AttemptPaths& paths, const UpstreamOutput& up, BlobCache& cache,
                 const StagingOptions& options) {
  fs::path dest = paths.input / up.stage / std::to_string(up.index);
  if (is_shared_ref(up.digest)) return stage_shared(up, dest, options);
  return stage_blob(up, dest, cache, options.partition);
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
                      BlobCache& cache, std::vector<UpstreamOutput>& missing,
                      const StagingOptions& options) {
  missing.clear();
  for (const auto& up : upstream) {
    if (!safe_segment(up.stage)) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("bad upstream stage \"{}\"", up.stage));
    }
    Status staged = stage_one(paths, up, cache, options);
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

Result<std::uint64_t> tree_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    fs::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (!fs::is_regular_file(st)) continue;
    std::uintmax_t size = it->file_size(ec);
    if (ec) break;
    total += size;
  }
  if (ec) return io_error("cannot read " + dir.string(), ec);
  return total;
}

int open_task_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    errno = EINVAL;
    return -1;
  }
  return fd;
}

Result<std::string> read_task_file(const fs::path& path, std::uint64_t offset,
                                   std::uint64_t max_bytes, std::uint64_t* size) {
  if (size) *size = 0;
  int fd = open_task_file(path);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return make_error(ErrorCode::io, fmt::format("cannot read {}: {}", path.string(),
                                                 errno == ELOOP ? "it is a symlink"
                                                 : errno == EINVAL ? "not a regular file"
                                                                   : std::strerror(errno)));
  }
  struct stat st {};
  (void)::fstat(fd, &st);
  const auto total = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
  if (size) *size = total;
  std::string out;
  offset = std::min(offset, total);
  out.resize(static_cast<std::size_t>(std::min(total - offset, max_bytes)));
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // truncated meanwhile
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

namespace {

Status chown_tree(const fs::path& top, const TaskUser& user) {
  auto chown_one = [&](const fs::path& p) -> Status {
    if (lchown(p.c_str(), user.uid, user.gid) != 0) {
      return make_error(ErrorCode::io,
                        fmt::format("chown {}: {}", p.string(), std::strerror(errno)));
    }
    return ok_status();
  };
  DROVER_TRY(chown_one(top));
  std::error_code ec;
  // Symlinks (e.g. into the shared store) are changed themselves, never followed.
  // Hard-linked bundle files stay the worker's: they are the bundle cache's inodes.
  for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) continue;
    DROVER_TRY(chown_one(it->path()));
  }
  if (ec) return io_error("cannot walk " + top.string(), ec);
  return ok_status();
}

Status chmod_one(const fs::path& p, mode_t mode) {
  if (chmod(p.c_str(), mode) != 0) {
    return make_error(ErrorCode::io, fmt::format("chmod {}: {}", p.string(), std::strerror(errno)));
  }
  return ok_status();
}

}  // namespace

Status hand_over(const AttemptPaths& paths, const std::optional<TaskUser>& user) {
  if (user) DROVER_TRY(chown_tree(paths.root, *user));
  DROVER_TRY(chmod_one(paths.root, 0700));
  if (!paths.shared_output) return ok_status();
  if (user) DROVER_TRY(chown_tree(paths.output, *user));
  return chmod_one(paths.output, 0755);
}

}  // namespace drover::worker
