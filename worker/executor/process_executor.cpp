#include "worker/executor/process_executor.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "common/fs/fs.hpp"

namespace drover::worker {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  return -1;
#endif
}

// True once `pid` has ended; leaves it a zombie so its process group id stays
// reserved until the stragglers in the group are killed.
bool has_ended(pid_t pid) {
  siginfo_t info{};
  int rc = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  if (rc != 0) return errno == ECHILD;  // not waitable: nothing left to wait for
  return info.si_pid != 0;
}

// Waits for `pid`; *cpu_ms gets the user + system cpu time it and the
// descendants it waited for used.
ExitStatus reap(pid_t pid, std::int64_t* cpu_ms = nullptr) {
  int status = 0;
  pid_t r;
  struct rusage usage {};
  do {
    r = wait4(pid, &status, 0, &usage);
  } while (r < 0 && errno == EINTR);
  if (cpu_ms && r == pid) {
    auto ms = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1000 + t.tv_usec / 1000; };
    *cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
  }
  ExitStatus out;
  if (r != pid) return out;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

// Supervises one process group. The owner thread runs wait(); kill() only sets a
// flag and writes the eventfd that wait() polls.
class ProcessExecution final : public Execution {
 public:
  ProcessExecution(const Clock& clock, pid_t pid, Duration timeout, Duration grace,
                   std::unique_ptr<AttemptLimit> limit)
      : clock_(clock), pid_(pid), timeout_(timeout), grace_(grace), limit_(std::move(limit)) {
    pidfd_ = open_pidfd(pid);
    eventfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    started_ = clock_.steady_now();
  }
  ~ProcessExecution() override {
    if (!reaped_) {  // never waited for: do not leave a process behind
      ::kill(-pid_, SIGKILL);
      reap(pid_);
    }
    if (limit_) limit_->release();
    if (pidfd_ >= 0) close(pidfd_);
    if (eventfd_ >= 0) close(eventfd_);
  }

  pid_t pid() const override { return pid_; }

  void kill() override {
    kill_requested_.store(true);
    std::uint64_t one = 1;
    if (eventfd_ >= 0) (void)!write(eventfd_, &one, sizeof one);
  }

  ExecResult wait() override;

 private:
  // Starts SIGTERM -> grace -> SIGKILL once.
  void begin_termination(Termination why) {
    if (result_.termination != Termination::none) return;
    result_.termination = why;
    ::kill(-pid_, SIGTERM);
    sigkill_at_ = clock_.steady_now() + grace_;
  }
  int poll_timeout_ms(SteadyTime now) const;
  void drain_eventfd() {
    std::uint64_t v;
    if (eventfd_ >= 0) (void)!read(eventfd_, &v, sizeof v);
  }

  const Clock& clock_;
  pid_t pid_;
  Duration timeout_;
  Duration grace_;
  std::unique_ptr<AttemptLimit> limit_;
  int pidfd_ = -1;
  int eventfd_ = -1;
  SteadyTime started_;
  std::optional<SteadyTime> sigkill_at_;
  bool sigkill_sent_ = false;
  bool reaped_ = false;
  std::atomic<bool> kill_requested_{false};
  ExecResult result_;
};

int ProcessExecution::poll_timeout_ms(SteadyTime now) const {
  std::optional<SteadyTime> next;
  if (timeout_.count() > 0 && result_.termination == Termination::none) next = started_ + timeout_;
  if (sigkill_at_ && !sigkill_sent_) next = next ? std::min(*next, *sigkill_at_) : *sigkill_at_;
  int ms = -1;
  if (next) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count();
    ms = static_cast<int>(std::clamp<std::int64_t>(left + 1, 0, 3'600'000));
  }
  // Without a pidfd (old kernels) look at the process every 50 ms.
  if (pidfd_ < 0) ms = ms < 0 ? 50 : std::min(ms, 50);
  return ms;
}

ExecResult ProcessExecution::wait() {
  if (reaped_) return result_;
  for (;;) {
    if (has_ended(pid_)) break;
    if (kill_requested_.load()) begin_termination(Termination::killed);
    auto now = clock_.steady_now();
    if (timeout_.count() > 0 && now >= started_ + timeout_) begin_termination(Termination::timeout);
    if (sigkill_at_ && !sigkill_sent_ && now >= *sigkill_at_) {
      ::kill(-pid_, SIGKILL);
      sigkill_sent_ = true;
    }
    pollfd fds[2] = {{pidfd_, POLLIN, 0}, {eventfd_, POLLIN, 0}};
    int rc = poll(fds, 2, poll_timeout_ms(clock_.steady_now()));
    if (rc > 0 && (fds[1].revents & POLLIN)) drain_eventfd();
  }
  // The leader is a zombie: its group id cannot be reused, so killing the
  // group's stragglers (background children of the task) is safe.
  ::kill(-pid_, SIGKILL);
  result_.status = reap(pid_, &result_.cpu_ms);
  reaped_ = true;
  if (limit_) {
    result_.out_of_memory = limit_->out_of_memory(result_.status.signal);
    limit_->release();
  }
  return result_;
}

}  // namespace

Result<std::unique_ptr<Execution>> ProcessExecutor::start(const ExecSpec& spec) {
  std::unique_ptr<AttemptLimit> limit = std::make_unique<AttemptLimit>();
  if (options_.limits != nullptr && spec.memory > 0) {
    auto prepared = options_.limits->prepare(spec.attempt_id, spec.memory);
    if (!prepared.ok()) return prepared.error();
    limit = std::move(*prepared);
  }
  SpawnOptions options;
  options.argv = limit->argv_prefix();
  const std::vector<std::string> prefix =
      options_.sandbox ? sandbox_prefix(*options_.sandbox, spec.private_dir, limit->procs_file())
                       : options_.argv_prefix;
  options.argv.insert(options.argv.end(), prefix.begin(), prefix.end());
  options.argv.insert(options.argv.end(), spec.argv.begin(), spec.argv.end());
  options.env = spec.env;
  options.cwd = spec.cwd;
  options.stdout_path = spec.stdout_path;
  options.stderr_path = spec.stderr_path;
  options.stdin_null = true;
  options.new_process_group = true;
  auto pid = spawn_process(options);
  if (!pid.ok()) return pid.error();
  // Placed at once; without a sandbox (which joins the group itself) a child
  // the task forks before this line escapes the limit.
  Status placed = options_.sandbox ? ok_status() : limit->place(*pid);
  auto execution = std::make_unique<ProcessExecution>(clock_, *pid, spec.timeout,
                                                      options_.kill_grace, std::move(limit));
  if (!placed.ok()) {  // ~ProcessExecution kills the group and removes the cgroup
    return make_error(placed.error().code,
                      "cannot apply the memory limit: " + placed.error().message);
  }
  return std::unique_ptr<Execution>(std::move(execution));
}

std::vector<std::string> sandbox_prefix(const TaskSandbox& sandbox,
                                        const std::filesystem::path& private_dir,
                                        const std::filesystem::path& procs_file) {
  std::error_code ec;  // absolute() fails only without a cwd; the init then names the path
  std::vector<std::string> argv{sandbox.init.string(), "--hide",
                                std::filesystem::absolute(sandbox.hidden, ec).string()};
  if (!private_dir.empty()) {
    argv.insert(argv.end(), {"--keep", std::filesystem::absolute(private_dir, ec).string()});
  }
  if (sandbox.uid && sandbox.gid) {
    argv.insert(argv.end(), {"--user", fmt::format("{}:{}", *sandbox.uid, *sandbox.gid)});
  }
  if (!procs_file.empty()) argv.insert(argv.end(), {"--join", procs_file.string()});
  argv.push_back("--");
  return argv;
}

std::filesystem::path find_task_init() {
  const std::filesystem::path dir = executable_dir();
  for (const auto& candidate :
       {dir / "drover-task-init", dir.parent_path() / "libexec" / "drover" / "drover-task-init"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Status probe_sandbox(const TaskSandbox& sandbox, const std::filesystem::path& scratch) {
  SpawnOptions options;
  options.argv = sandbox_prefix(sandbox, scratch, {});
  options.argv.insert(options.argv.begin() + 1, "--probe");
  options.stderr_path = scratch / "task-init-probe.err";
  auto pid = spawn_process(options);
  if (!pid.ok()) return pid.error();
  auto status = wait_process(*pid, std::chrono::seconds(30));
  if (!status) {
    terminate_process(*pid, SIGKILL, Duration{0});
    return make_error(ErrorCode::io, "drover-task-init --probe did not finish in 30 s");
  }
  auto err = read_file(options.stderr_path);
  std::string why = err.ok() ? *err : std::string();
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::error_code ec;
  std::filesystem::remove(options.stderr_path, ec);
  if (status->exited() && status->exit_code == 0) return ok_status();
  if (why.empty()) {
    why = status->exited() ? fmt::format("drover-task-init --probe exited {}", status->exit_code)
                           : fmt::format("drover-task-init --probe died of signal {}", status->signal);
  }
  return make_error(ErrorCode::unavailable, why);
}

std::vector<std::string> setpriv_prefix(unsigned uid, unsigned gid) {
  // --no-new-privs: nothing the task runs (setuid binaries, file capabilities) gains privileges.
  return {"/usr/bin/setpriv", fmt::format("--reuid={}", uid), fmt::format("--regid={}", gid),
          "--init-groups", "--no-new-privs", "--"};
}

}  // namespace drover::worker
