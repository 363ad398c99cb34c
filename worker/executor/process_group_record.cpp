#include "worker/executor/process_group_record.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>

#include "common/fs/fs.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

namespace {

std::string boot_id() {
  auto id = read_file("/proc/sys/kernel/random/boot_id");
  if (!id.ok()) return "-";
  std::string s = *id;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "-" : s;
}

// Field 22 of /proc/<pid>/stat (clock ticks since boot); nullopt when gone.
std::optional<std::string> start_time(pid_t pid) {
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return std::nullopt;
  auto paren = stat->rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {  // fields 3.. follow the name
    if (!(fields >> field)) return std::nullopt;
  }
  return field;
}

bool group_exists(pid_t pgid) { return ::kill(-pgid, 0) == 0 || errno == EPERM; }

}  // namespace

fs::path process_group_file(const fs::path& work_dir, std::int64_t attempt_id) {
  return work_dir / "attempts" / fmt::format("{}.pgid", attempt_id);
}

fs::path kept_sandbox_file(const fs::path& work_dir, pid_t pid) {
  return work_dir / "attempts" / fmt::format("sandbox-{}.pgid", pid);
}

Status record_process_group(const fs::path& file, pid_t pgid) {
  static const std::string boot = boot_id();
  auto started = start_time(pgid);
  // Every record has the same length (padded), so a reused record file
  // (SpareAttemptDirs) is overwritten whole without truncating it: on ext4 a
  // file truncated and rewritten is flushed to disk by its close.
  std::string line =
      fmt::format("{} {} {}", pgid, boot, started ? *started : std::string("-"));
  if (line.size() + 1 < kRecordBytes) line.resize(kRecordBytes - 1, ' ');
  line += '\n';
  // It has to outlive a crash of the worker, not of the machine (after a reboot
  // no group is left): no fsync, no temp file (a torn record does not parse
  // and is skipped; a stale one names a group whose leader is gone, which the
  // start time check refuses). Measured: the atomic, fsync'd write took 4-5 ms a task.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", file.string(), std::strerror(errno)));
  const bool written =
      ::pwrite(fd, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!written) return make_error(ErrorCode::io, fmt::format("cannot write {}", file.string()));
  return ok_status();
}

int kill_recorded_groups(const fs::path& work_dir) {
  int killed = 0;
  std::error_code ec;
  const std::string boot = boot_id();
  for (fs::directory_iterator it(work_dir / "attempts", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() != ".pgid") continue;
    auto text = read_file(it->path());
    if (!text.ok()) continue;
    std::istringstream in(*text);
    long pgid = 0;
    std::string recorded_boot, recorded_start;
    if (!(in >> pgid >> recorded_boot >> recorded_start) || pgid <= 1) continue;
    if (recorded_boot != boot || !group_exists(static_cast<pid_t>(pgid))) continue;
    auto leader_start = start_time(static_cast<pid_t>(pgid));
    if (leader_start && *leader_start != recorded_start) continue;  // a new process, not ours
    if (::kill(-static_cast<pid_t>(pgid), SIGKILL) == 0) {
      spdlog::warn("killed process group {} left running by an earlier run ({})", pgid,
                   it->path().filename().string());
      ++killed;
    }
  }
  return killed;
}

}  // namespace drover::worker
