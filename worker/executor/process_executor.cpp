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
#include "worker/executor/sandbox_spawn.hpp"

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

ExitStatus decode(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
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
  if (r != pid) return ExitStatus{};
  return decode(status);
}

// Supervises one process group. The owner thread runs wait(); kill() only sets a
// flag and writes the eventfd that wait() polls.
class ProcessExecution final : public Execution {
 public:
  // status_fd >= 0: `pid` is a sandbox's init, which writes the task's wait
  // status there before it exits; `memory` is what it runs on, released after
  // it was reaped.
  // `kept` set: `pid` is a kept sandbox's init (of `pool`), which reports the
  // task's end on the sandbox's status_fd and stays; it goes back to `pool`.
  ProcessExecution(const Clock& clock, pid_t pid, Duration timeout, Duration grace,
                   std::unique_ptr<AttemptLimit> limit, int status_fd = -1,
                   std::shared_ptr<void> memory = nullptr, KeptSandboxes* pool = nullptr,
                   std::optional<KeptSandbox> kept = std::nullopt)
      : clock_(clock), pid_(pid), timeout_(timeout), grace_(grace), limit_(std::move(limit)),
        status_fd_(status_fd), memory_(std::move(memory)), pool_(pool), kept_(std::move(kept)),
        recorded_(kept_ && !kept_->record.empty()) {
    if (!kept_) pidfd_ = open_pidfd(pid);
    eventfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    started_ = clock_.steady_now();
  }
  ~ProcessExecution() override {
    if (!reaped_) {  // never waited for: do not leave a process behind
      ::kill(-pid_, SIGKILL);
      reap(pid_);
      if (kept_) KeptSandboxes::discard(*kept_);
    }
    if (limit_) limit_->release();
    if (pidfd_ >= 0) close(pidfd_);
    if (eventfd_ >= 0) close(eventfd_);
    if (status_fd_ >= 0) close(status_fd_);
  }

  pid_t pid() const override { return pid_; }
  bool group_recorded() const override { return recorded_; }

  void kill() override {
    kill_requested_.store(true);
    std::uint64_t one = 1;
    if (eventfd_ >= 0) (void)!write(eventfd_, &one, sizeof one);
  }

  ExecResult wait() override;
  bool ended_within(Duration limit) override;

 private:
  // Starts SIGTERM -> grace -> SIGKILL once.
  void begin_termination(Termination why) {
    if (result_.termination != Termination::none) return;
    result_.termination = why;
    ::kill(-pid_, SIGTERM);
    sigkill_at_ = clock_.steady_now() + grace_;
  }
  int poll_timeout_ms(SteadyTime now) const;
  // Whether the task ended: its init did (leaving it a zombie), or, kept, it
  // reported the task's end or died.
  bool ended();
  int watched_fd() const { return kept_ ? kept_->status_fd : pidfd_; }
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
  int status_fd_ = -1;
  std::shared_ptr<void> memory_;  // destroyed after the destructor's reap
  KeptSandboxes* pool_ = nullptr;
  std::optional<KeptSandbox> kept_;  // given back, or discarded once init was reaped
  std::optional<TaskEnd> kept_end_;
  std::string kept_buf_;
  bool kept_dead_ = false;
  const bool recorded_;  // in its kept sandbox's record
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
  if (watched_fd() < 0) ms = ms < 0 ? 50 : std::min(ms, 50);
  return ms;
}

bool ProcessExecution::ended() {
  if (!kept_) return has_ended(pid_);
  if (!kept_end_ && !kept_dead_) kept_end_ = read_kept_end(kept_->status_fd, kept_buf_, kept_dead_);
  return kept_end_ || kept_dead_;
}

bool ProcessExecution::ended_within(Duration limit) {
  if (reaped_ || ended()) return true;
  if (kill_requested_.load() || watched_fd() < 0) return false;  // wait() handles kills
  // One poll: a kill (the eventfd, left unread for wait()) or a signal ends it early.
  pollfd fds[2] = {{watched_fd(), POLLIN, 0}, {eventfd_, POLLIN, 0}};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
  (void)poll(fds, 2, static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000)));
  return ended();
}

ExecResult ProcessExecution::wait() {
  if (reaped_) return result_;
  for (;;) {
    if (ended()) break;
    if (kill_requested_.load()) begin_termination(Termination::killed);
    auto now = clock_.steady_now();
    if (timeout_.count() > 0 && now >= started_ + timeout_) begin_termination(Termination::timeout);
    if (sigkill_at_ && !sigkill_sent_ && now >= *sigkill_at_) {
      ::kill(-pid_, SIGKILL);
      sigkill_sent_ = true;
    }
    pollfd fds[2] = {{watched_fd(), POLLIN, 0}, {eventfd_, POLLIN, 0}};
    int rc = poll(fds, 2, poll_timeout_ms(clock_.steady_now()));
    if (rc > 0 && (fds[1].revents & POLLIN)) drain_eventfd();
  }
  if (kept_end_) {  // init killed what the task left, and stays for the next task
    result_.status = decode(kept_end_->status);
    result_.cpu_ms = kept_end_->cpu_us / 1000;
    pool_->give_back(std::move(*kept_));
    kept_.reset();
  } else {
    // The leader is a zombie: its group id cannot be reused, so killing the
    // group's stragglers (background children of the task) is safe.
    ::kill(-pid_, SIGKILL);
    result_.status = reap(pid_, &result_.cpu_ms);
    if (kept_) KeptSandboxes::discard(*kept_);  // its init died: its status stands
    // A sandbox's init reports how the task ended; without a report (set-up
    // failed, or init was killed) its own status stands.
    if (status_fd_ >= 0) {
      if (auto task_status = read_task_status(status_fd_)) result_.status = decode(*task_status);
    }
  }
  reaped_ = true;
  if (limit_) {
    result_.out_of_memory = limit_->out_of_memory(result_.status.signal);
    limit_->release();
  }
  return result_;
}

}  // namespace

// The sandbox's view of one task.
SandboxedCommand sandboxed_command(const TaskSandbox& sandbox, const std::vector<gid_t>& groups,
                                   const ExecSpec& spec, std::vector<std::string> argv,
                                   const std::filesystem::path& procs_file);

ProcessExecutor::ProcessExecutor(const Clock& clock, ProcessExecutorOptions options)
    : clock_(clock), options_(std::move(options)) {
  if (options_.sandbox && options_.sandbox->uid && options_.sandbox->gid) {
    groups_ = user_groups(*options_.sandbox->uid, *options_.sandbox->gid);
  }
  if (options_.sandbox && options_.kept_sandboxes > 0) {
    kept_ = std::make_unique<KeptSandboxes>(options_.kept_sandboxes, options_.sandbox->hidden);
  }
}

ProcessExecutor::~ProcessExecutor() = default;

Result<std::unique_ptr<Execution>> ProcessExecutor::start(const ExecSpec& spec) {
  std::unique_ptr<AttemptLimit> limit = std::make_unique<AttemptLimit>();
  if (options_.limits != nullptr && spec.memory > 0) {
    auto prepared = options_.limits->prepare(spec.attempt_id, spec.memory);
    if (!prepared.ok()) return prepared.error();
    limit = std::move(*prepared);
  }
  std::vector<std::string> argv = limit->argv_prefix();
  if (options_.sandbox) {
    argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
    SandboxedCommand command =
        sandboxed_command(*options_.sandbox, groups_, spec, std::move(argv), limit->procs_file());
    const bool kept = kept_ && KeptSandboxes::suits(command);
    auto child = kept ? kept_->spawn(std::move(command)) : spawn_sandboxed(std::move(command));
    if (!child.ok()) return child.error();
    // The init joined the limit's group itself, before the task existed.
    return std::unique_ptr<Execution>(std::make_unique<ProcessExecution>(
        clock_, child->pid, spec.timeout, options_.kill_grace, std::move(limit), child->status_fd,
        std::move(child->memory), kept_.get(), std::move(child->kept)));
  }
  SpawnOptions options;
  options.argv = std::move(argv);
  options.argv.insert(options.argv.end(), options_.argv_prefix.begin(), options_.argv_prefix.end());
  options.argv.insert(options.argv.end(), spec.argv.begin(), spec.argv.end());
  options.env = spec.env;
  options.cwd = spec.cwd;
  options.stdout_path = spec.stdout_path;
  options.stderr_path = spec.stderr_path;
  options.stdin_null = true;
  options.new_process_group = true;
  auto pid = spawn_process(options);
  if (!pid.ok()) return pid.error();
  // Placed at once: a child the task forks before this line escapes the limit.
  Status placed = limit->place(*pid);
  auto execution = std::make_unique<ProcessExecution>(clock_, *pid, spec.timeout,
                                                      options_.kill_grace, std::move(limit));
  if (!placed.ok()) {  // ~ProcessExecution kills the group and removes the cgroup
    return make_error(placed.error().code,
                      "cannot apply the memory limit: " + placed.error().message);
  }
  return std::unique_ptr<Execution>(std::move(execution));
}

SandboxedCommand sandboxed_command(const TaskSandbox& sandbox, const std::vector<gid_t>& groups,
                                   const ExecSpec& spec, std::vector<std::string> argv,
                                   const std::filesystem::path& procs_file) {
  std::error_code ec;  // absolute() fails only without a cwd
  SandboxedCommand c;
  c.argv = std::move(argv);
  c.env = spec.env;
  c.cwd = spec.cwd;
  c.stdout_path = spec.stdout_path;
  c.stderr_path = spec.stderr_path;
  c.hide = std::filesystem::absolute(sandbox.hidden, ec);
  if (!spec.private_dir.empty()) c.keep = std::filesystem::absolute(spec.private_dir, ec);
  c.cgroup_procs = procs_file;
  if (sandbox.uid && sandbox.gid) {
    c.uid = *sandbox.uid;
    c.gid = *sandbox.gid;
    c.groups = groups;
  }
  return c;
}

Status probe_sandbox(const TaskSandbox& sandbox, const std::filesystem::path& scratch) {
  ExecSpec spec;
  spec.private_dir = scratch;
  spec.stderr_path = scratch / "sandbox-probe.err";
  SandboxedCommand command = sandboxed_command(sandbox, {}, spec, {}, {});
  command.probe = true;
  auto child = spawn_sandboxed(command);
  if (!child.ok()) return child.error();
  close(child->status_fd);
  auto status = wait_process(child->pid, std::chrono::seconds(30));
  if (!status) {
    terminate_process(child->pid, SIGKILL, Duration{0});
    return make_error(ErrorCode::io, "the sandbox probe did not finish in 30 s");
  }
  auto err = read_file(spec.stderr_path);
  std::string why = err.ok() ? *err : std::string();
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::error_code ec;
  std::filesystem::remove(spec.stderr_path, ec);
  if (status->exited() && status->exit_code == 0) return ok_status();
  if (why.empty()) {
    why = status->exited() ? fmt::format("the sandbox probe exited {}", status->exit_code)
                           : fmt::format("the sandbox probe died of signal {}", status->signal);
  }
  return make_error(ErrorCode::unavailable, why);
}

std::vector<std::string> setpriv_prefix(unsigned uid, unsigned gid) {
  // --no-new-privs: nothing the task runs (setuid binaries, file capabilities) gains privileges.
  return {"/usr/bin/setpriv", fmt::format("--reuid={}", uid), fmt::format("--regid={}", gid),
          "--init-groups", "--no-new-privs", "--"};
}

}  // namespace drover::worker
