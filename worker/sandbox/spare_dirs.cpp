#include "worker/sandbox/spare_dirs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace drover::worker {

namespace fs = std::filesystem;

namespace {

// As create_attempt_dirs makes them: sandbox/ as the bundle cache's own
// directories (mkdtemp's 0700), the others as create_directories does.
struct Dir {
  const char* name;
  mode_t mode;
};
constexpr Dir kDirs[] = {
    {"input", 0777}, {"output", 0777}, {"checkpoint", 0777}, {"tmp", 0777}, {"sandbox", 0700}};
constexpr mode_t kRootMode = 0777;
// Created by the sandbox's init (as the worker's user) before the task runs.
constexpr const char* kLogs[] = {"stdout", "stderr"};
constexpr mode_t kLogMode = 0644;

bool make(const fs::path& dir, mode_t mode) { return ::mkdir(dir.c_str(), mode) == 0; }

// The process's umask, read without changing it (umask(2) would, for every thread).
mode_t current_umask() {
  FILE* f = std::fopen("/proc/self/status", "re");
  unsigned value = 022;
  if (f != nullptr) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "Umask: %o", &value) == 1) break;
    }
    std::fclose(f);
  }
  return static_cast<mode_t>(value & 0777);
}

// The worker's own, without extended attributes (ACLs included), `mode`.
bool owned_as_made(int fd, const struct stat& st, mode_t mode) {
  if (::flistxattr(fd, nullptr, 0) != 0) return false;
  const bool owned = st.st_uid == ::geteuid() && st.st_gid == ::getegid();
  if (!owned && ::fchown(fd, ::geteuid(), ::getegid()) != 0) return false;
  return (st.st_mode & 07777) == mode || ::fchmod(fd, mode) == 0;
}

// The entries of `dir`, listed before any is removed.
std::optional<std::vector<fs::path>> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  if (ec) return std::nullopt;
  return out;
}

// A directory (not a link to one), emptied and reset to `mode`.
bool reset_dir(const fs::path& dir, mode_t mode) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && owned_as_made(fd, st, mode);
  ::close(fd);
  auto inside = ok ? entries(dir) : std::nullopt;
  if (!inside) return false;
  for (const fs::path& entry : *inside) {
    std::error_code ec;
    fs::remove_all(entry, ec);  // never follows links
    if (ec) return false;
  }
  return true;
}

// An empty regular file with one link, reset to `mode`; false when `file` is
// anything else (it is removed then, and made again by the next task's init).
bool reset_log(const fs::path& file, mode_t mode) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st{};
  const bool ok = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
                  owned_as_made(fd, st, mode) && ::ftruncate(fd, 0) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

std::optional<mode_t> dir_mode(std::string_view name) {
  for (const Dir& d : kDirs) {
    if (name == d.name) return d.mode;
  }
  return std::nullopt;
}

bool is_log(std::string_view name) {
  for (const char* log : kLogs) {
    if (name == log) return true;
  }
  return false;
}

}  // namespace

SpareAttemptDirs::SpareAttemptDirs(fs::path attempts_dir, std::size_t keep, bool recycle)
    : attempts_dir_(std::move(attempts_dir)),
      keep_(keep),
      recycle_(recycle),
      umask_(current_umask()) {}

bool SpareAttemptDirs::take_from(std::vector<fs::path>& pool, const fs::path& to) {
  fs::path spare;
  {
    std::lock_guard lock(mu_);
    if (pool.empty()) return false;
    spare = std::move(pool.back());
    pool.pop_back();
  }
  std::error_code ec;
  fs::rename(spare, to, ec);
  if (ec) fs::remove_all(spare, ec);
  return !ec;
}

bool SpareAttemptDirs::take(const fs::path& root) { return take_from(ready_, root); }

bool SpareAttemptDirs::take_record(const fs::path& record) { return take_from(records_, record); }

bool SpareAttemptDirs::recycle_record(const fs::path& record) {
  fs::path spare;
  {
    std::lock_guard lock(mu_);
    if (records_.size() >= keep_) return false;
    spare = attempts_dir_ / (".spare-" + std::to_string(next_++));
  }
  // Not emptied (on ext4 a truncated file is flushed by its next writer's
  // close): spares are not named *.pgid, so a restart never reads one, and
  // the next record overwrites it whole (fixed length).
  std::error_code ec;
  fs::rename(record, spare, ec);
  if (ec) return false;
  std::lock_guard lock(mu_);
  records_.push_back(std::move(spare));
  return true;
}

fs::path SpareAttemptDirs::reserve() {
  ++making_;
  return attempts_dir_ / (".spare-" + std::to_string(next_++));
}

void SpareAttemptDirs::settle(fs::path spare, bool ready) {
  std::lock_guard lock(mu_);
  --making_;
  if (ready) ready_.push_back(std::move(spare));
}

void SpareAttemptDirs::refill() {
  for (;;) {
    fs::path spare;
    {
      std::lock_guard lock(mu_);
      if (ready_.size() + making_ >= keep_) return;
      spare = reserve();
    }
    bool made = make(spare, kRootMode);
    for (const Dir& d : kDirs) made = made && make(spare / d.name, d.mode);
    if (!made) {
      std::error_code ec;
      fs::remove_all(spare, ec);
    }
    settle(std::move(spare), made);
    if (!made) return;
  }
}

bool SpareAttemptDirs::recycle(const fs::path& root) {
  if (!recycle_) return false;
  fs::path spare;
  {
    std::lock_guard lock(mu_);
    if (ready_.size() + making_ >= keep_) return false;
    spare = reserve();
  }
  bool kept = scrub(root);
  if (kept) {
    std::error_code ec;
    fs::rename(root, spare, ec);
    kept = !ec;
  }
  settle(spare, kept);
  return kept;
}

bool SpareAttemptDirs::scrub(const fs::path& root) const {
  {
    const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st{};
    const bool ok = ::fstat(fd, &st) == 0 && owned_as_made(fd, st, kRootMode & ~umask_);
    ::close(fd);
    if (!ok) return false;
  }
  auto inside = entries(root);
  if (!inside) return false;
  std::size_t dirs = 0;
  bool output = false;
  for (const fs::path& entry : *inside) {
    const std::string name = entry.filename().string();
    if (auto mode = dir_mode(name)) {
      if (!reset_dir(entry, *mode & ~umask_)) return false;
      ++dirs;
      output = output || name == "output";
    } else if (!is_log(name) || !reset_log(entry, kLogMode & ~umask_)) {
      std::error_code ec;
      fs::remove_all(entry, ec);  // what the task left (or a log it replaced)
      if (ec) return false;
    }
  }
  // A shared output store's attempt had its output elsewhere: make one here.
  if (!output && dirs == std::size(kDirs) - 1) {
    return make(root / "output", dir_mode("output").value());
  }
  return dirs == std::size(kDirs);
}

}  // namespace drover::worker
