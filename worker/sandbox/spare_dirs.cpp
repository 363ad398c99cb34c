#include "worker/sandbox/spare_dirs.hpp"

#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/fs/unique_fd.hpp"

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

// The worker's own (`euid`:`egid`), without extended attributes (ACLs
// included), `mode`.
bool owned_as_made(int fd, const struct stat& st, mode_t mode, uid_t euid, gid_t egid) {
  if (::flistxattr(fd, nullptr, 0) != 0) return false;
  const bool owned = st.st_uid == euid && st.st_gid == egid;
  if (!owned && ::fchown(fd, euid, egid) != 0) return false;
  return (st.st_mode & 07777) == mode || ::fchmod(fd, mode) == 0;
}

// The names in the directory open as `dir`, but "." and "..". Read with
// getdents64 on the descriptor already open: opendir would open the
// directory again by its path, and check it twice more.
std::optional<std::vector<std::string>> names_in(int dir) {
  std::vector<std::string> out;
  alignas(8) char buf[4096];
  for (;;) {
    const ssize_t n = ::getdents64(dir, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    for (ssize_t at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf + at);
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") out.emplace_back(name);
      at += entry->d_reclen;
    }
  }
}

// Removes `names` below `dir`, never following a link.
bool remove_below(const fs::path& dir, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    std::error_code ec;
    fs::remove_all(dir / name, ec);
    if (ec) return false;
  }
  return true;
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
      umask_(current_umask()),
      euid_(::geteuid()),
      egid_(::getegid()) {}

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
  // Every directory is opened once, below the one before, without following
  // a link: the task may have replaced any of them.
  UniqueFd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!top.valid() || ::fstat(top.get(), &st) != 0 ||
      !owned_as_made(top.get(), st, kRootMode & ~umask_, euid_, egid_)) {
    return false;
  }
  auto inside = names_in(top.get());
  if (!inside) return false;
  std::size_t dirs = 0;
  bool output = false;
  for (const std::string& name : *inside) {
    if (auto mode = dir_mode(name)) {
      if (!reset_dir(top.get(), root / name, *mode & ~umask_)) return false;
      ++dirs;
      output = output || name == "output";
    } else if (!is_log(name) || !reset_log(top.get(), name, kLogMode & ~umask_)) {
      std::error_code ec;
      fs::remove_all(root / name, ec);  // what the task left (or a log it replaced)
      if (ec) return false;
    }
  }
  // A shared output store's attempt had its output elsewhere: make one here.
  if (!output && dirs == std::size(kDirs) - 1) {
    return make(root / "output", dir_mode("output").value());
  }
  return dirs == std::size(kDirs);
}

bool SpareAttemptDirs::reset_dir(int parent, const fs::path& dir, mode_t mode) const {
  const std::string name = dir.filename().string();
  UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      !owned_as_made(fd.get(), st, mode, euid_, egid_)) {
    return false;
  }
  auto inside = names_in(fd.get());
  return inside && remove_below(dir, *inside);
}

bool SpareAttemptDirs::reset_log(int parent, const std::string& name, mode_t mode) const {
  UniqueFd fd(::openat(parent, name.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st{};
  // Truncated only when not empty: even an empty file's truncation updates
  // its times, and so writes its inode.
  return fd.valid() && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
         owned_as_made(fd.get(), st, mode, euid_, egid_) &&
         (st.st_size == 0 || ::ftruncate(fd.get(), 0) == 0);
}

}  // namespace drover::worker
