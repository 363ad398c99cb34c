#include "worker/limits/limits.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/fs/fs.hpp"

namespace drover::worker {
namespace fs = std::filesystem;

namespace {

// One write(2), as cgroup control files want it.
Status write_control(const fs::path& file, const std::string& value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(ErrorCode::io, fmt::format("open {}: {}", file.string(), strerror(errno)));
  }
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return make_error(ErrorCode::io,
                      fmt::format("write {} to {}: {}", value, file.string(), strerror(err)));
  }
  return ok_status();
}

std::string read_or_empty(const fs::path& file) {
  auto content = read_file(file);
  return content.ok() ? *content : std::string{};
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word || w == "+" + word) return true;
  }
  return false;
}

// SIGKILLs every process in the group until it is empty (at most ~1 s), then
// removes it. Failures are logged: a leftover group is harmless.
void empty_and_remove(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (fs::exists(dir / "cgroup.kill", ec)) (void)write_control(dir / "cgroup.kill", "1");
  for (int i = 0; i < 50; ++i) {
    std::istringstream in(read_or_empty(dir / "cgroup.procs"));
    bool any = false;
    for (long pid; in >> pid;) {
      if (pid <= 1) continue;
      any = true;
      ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("cannot remove cgroup {}: {}", dir.string(), strerror(errno));
  }
}

// Removes a worker group and the attempt groups in it.
void remove_group(const fs::path& group) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(group, ec)) {
    if (e.is_directory(ec) && e.path().filename().string().rfind("attempt-", 0) == 0) {
      empty_and_remove(e.path());
    }
  }
  ::rmdir(group.c_str());
}

// Groups "<prefix><pid>" of earlier runs of this worker id whose process is gone
// (a crash): emptied and removed. Groups of live workers are left alone.
void remove_stale_groups(const fs::path& parent, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory(ec) || name.rfind(prefix, 0) != 0) continue;
    std::string rest = name.substr(prefix.size());
    if (rest.empty() || rest.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(rest));
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) remove_group(e.path());
  }
}

// "<worker id>-<pid>": two workers with one id on a machine (tests) never share.
std::string group_name(const std::string& prefix) {
  return prefix + std::to_string(::getpid());
}

enum class CgroupVersion { v1, v2 };

class CgroupAttempt final : public AttemptLimit {
 public:
  CgroupAttempt(CgroupVersion version, fs::path dir) : version_(version), dir_(std::move(dir)) {}
  ~CgroupAttempt() override { release(); }

  Status place(pid_t pid) override {
    return write_control(dir_ / "cgroup.procs", std::to_string(pid));
  }
  std::filesystem::path procs_file() const override { return dir_ / "cgroup.procs"; }

  bool out_of_memory(int signal) const override {
    if (version_ == CgroupVersion::v2) {
      return cgroup_stat(read_or_empty(dir_ / "memory.events"), "oom_kill") > 0;
    }
    std::string control = read_or_empty(dir_ / "memory.oom_control");
    std::int64_t kills = cgroup_stat(control, "oom_kill");
    if (kills >= 0) return kills > 0;
    // Old kernels: no counter. Hitting the limit and dying of SIGKILL.
    std::int64_t failcnt = cgroup_stat("failcnt " + read_or_empty(dir_ / "memory.failcnt"),
                                       "failcnt");
    return signal == SIGKILL && (cgroup_stat(control, "under_oom") > 0 || failcnt > 0);
  }

  void release() override {
    if (released_) return;
    released_ = true;
    empty_and_remove(dir_);
  }

 private:
  CgroupVersion version_;
  fs::path dir_;
  bool released_ = false;
};

class CgroupLimits final : public Limits {
 public:
  CgroupLimits(CgroupVersion version, fs::path group)
      : version_(version), group_(std::move(group)) {
    const char* swap = version_ == CgroupVersion::v2 ? "memory.swap.max"
                                                    : "memory.memsw.limit_in_bytes";
    std::error_code ec;
    has_swap_file_ = fs::exists(group_ / swap, ec);
  }
  ~CgroupLimits() override { remove_group(group_); }

  std::string name() const override {
    return fmt::format("cgroup {} ({})", version_ == CgroupVersion::v2 ? "v2" : "v1",
                       group_.string());
  }

  Result<std::unique_ptr<AttemptLimit>> prepare(std::int64_t attempt_id,
                                                std::uint64_t memory) override;

 private:
  Status write_limits(const fs::path& dir, std::uint64_t memory) const {
    std::string bytes = std::to_string(memory);
    if (version_ == CgroupVersion::v2) {
      DROVER_TRY(write_control(dir / "memory.max", bytes));
      if (has_swap_file_) DROVER_TRY(write_control(dir / "memory.swap.max", "0"));
      return ok_status();
    }
    DROVER_TRY(write_control(dir / "memory.limit_in_bytes", bytes));
    // memsw counts memory + swap: the same value means no swap.
    if (has_swap_file_) DROVER_TRY(write_control(dir / "memory.memsw.limit_in_bytes", bytes));
    return ok_status();
  }

  CgroupVersion version_;
  fs::path group_;
  bool has_swap_file_ = false;
};

Result<std::unique_ptr<AttemptLimit>> CgroupLimits::prepare(std::int64_t attempt_id,
                                                            std::uint64_t memory) {
  if (memory == 0) return std::unique_ptr<AttemptLimit>(std::make_unique<AttemptLimit>());
  fs::path dir = group_ / fmt::format("attempt-{}", attempt_id);
  empty_and_remove(dir);  // a leftover of an earlier run with the same id
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return make_error(ErrorCode::io, fmt::format("mkdir {}: {}", dir.string(), strerror(errno)));
  }
  auto limit = std::make_unique<CgroupAttempt>(version_, dir);
  Status written = write_limits(dir, memory);
  if (!written.ok()) return written.error();  // ~CgroupAttempt removes the dir
  return std::unique_ptr<AttemptLimit>(std::move(limit));
}

class RlimitAttempt final : public AttemptLimit {
 public:
  explicit RlimitAttempt(std::vector<std::string> prefix) : prefix_(std::move(prefix)) {}
  std::vector<std::string> argv_prefix() const override { return prefix_; }

 private:
  std::vector<std::string> prefix_;
};

class RlimitLimits final : public Limits {
 public:
  explicit RlimitLimits(fs::path prlimit) : prlimit_(std::move(prlimit)) {}
  std::string name() const override {
    return prlimit_.empty() ? "none (no cgroup, no prlimit)"
                            : fmt::format("rlimit (RLIMIT_AS via {})", prlimit_.string());
  }
  Result<std::unique_ptr<AttemptLimit>> prepare(std::int64_t, std::uint64_t memory) override {
    if (memory == 0 || prlimit_.empty()) {
      return std::unique_ptr<AttemptLimit>(std::make_unique<AttemptLimit>());
    }
    std::vector<std::string> prefix{prlimit_.string(), fmt::format("--as={}", memory), "--"};
    return std::unique_ptr<AttemptLimit>(std::make_unique<RlimitAttempt>(std::move(prefix)));
  }

 private:
  fs::path prlimit_;
};

// The worker's own v2 cgroup path ("0::/a/b" -> "a/b"); empty for the root.
std::string own_v2_path(const fs::path& proc_self_cgroup) {
  std::istringstream in(read_or_empty(proc_self_cgroup));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::/", 0) == 0) return line.substr(4);
  }
  return {};
}

// Creates <base>/drover-<id> with the memory controller enabled for its children.
bool enable_v2_group(const fs::path& base, const fs::path& group) {
  std::error_code ec;
  if (!has_word(read_or_empty(base / "cgroup.controllers"), "memory")) return false;
  if (!has_word(read_or_empty(base / "cgroup.subtree_control"), "memory") &&
      !write_control(base / "cgroup.subtree_control", "+memory").ok()) {
    return false;
  }
  fs::create_directory(group, ec);
  if (ec) return false;
  if (!write_control(group / "cgroup.subtree_control", "+memory").ok() ||
      !has_word(read_or_empty(group / "cgroup.subtree_control"), "memory")) {
    ::rmdir(group.c_str());
    return false;
  }
  return true;
}

// A worker id as one path component.
std::string safe_name(const std::string& id) {
  std::string out = id.empty() ? "worker" : id;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  return out == "." || out == ".." ? "worker" : out;
}

}  // namespace

std::int64_t cgroup_stat(const std::string& content, const std::string& key) {
  std::istringstream in(content);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string k;
    long long v = 0;
    if (words >> k >> v && k == key) return v;
  }
  return -1;
}

std::unique_ptr<Limits> make_cgroup_v2_limits(const LimitsProbe& probe,
                                              const std::string& worker_id) {
  std::error_code ec;
  if (!fs::exists(probe.cgroup_root / "cgroup.controllers", ec)) return nullptr;
  std::vector<fs::path> bases;
  std::string own = own_v2_path(probe.proc_self_cgroup);
  if (!own.empty()) bases.push_back(probe.cgroup_root / own);
  bases.push_back(probe.cgroup_root);
  for (const auto& base : bases) {
    std::string prefix = "drover-" + safe_name(worker_id) + "-";
    fs::path group = base / group_name(prefix);
    if (!enable_v2_group(base, group)) continue;
    remove_stale_groups(base, prefix);
    return std::make_unique<CgroupLimits>(CgroupVersion::v2, group);
  }
  return nullptr;
}

std::unique_ptr<Limits> make_cgroup_v1_limits(const LimitsProbe& probe,
                                              const std::string& worker_id) {
  std::error_code ec;
  fs::path memory = probe.cgroup_root / "memory";
  if (!fs::exists(memory / "memory.limit_in_bytes", ec)) return nullptr;
  std::string prefix = safe_name(worker_id) + "-";
  fs::path group = memory / "drover" / group_name(prefix);
  fs::create_directories(group, ec);
  if (ec || !fs::exists(group / "memory.limit_in_bytes", ec)) return nullptr;
  if (::access(group.c_str(), W_OK) != 0) return nullptr;
  remove_stale_groups(memory / "drover", prefix);
  return std::make_unique<CgroupLimits>(CgroupVersion::v1, group);
}

std::unique_ptr<Limits> make_rlimit_limits(const fs::path& prlimit) {
  if (::access(prlimit.c_str(), X_OK) != 0) return nullptr;
  return std::make_unique<RlimitLimits>(prlimit);
}

std::unique_ptr<Limits> choose_limits(const std::string& worker_id, const LimitsProbe& probe) {
  if (auto v2 = make_cgroup_v2_limits(probe, worker_id)) return v2;
  if (auto v1 = make_cgroup_v1_limits(probe, worker_id)) return v1;
  if (auto rl = make_rlimit_limits(probe.prlimit)) return rl;
  return std::make_unique<RlimitLimits>(fs::path{});
}

}  // namespace drover::worker
