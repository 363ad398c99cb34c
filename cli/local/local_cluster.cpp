#include "cli/local/local_cluster.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <deque>
#include <fstream>

#include "common/fs/fs.hpp"
#include "common/proc/process.hpp"

namespace drover::cli {

namespace fs = std::filesystem;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

constexpr Duration kStopGrace = std::chrono::seconds(10);
constexpr Duration kStartPoll = std::chrono::milliseconds(50);

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string worker_id(int i) { return fmt::format("local-{}", i); }

// SIGTERM to every process at once, then waits for each; SIGKILL past the grace.
void stop_processes(std::vector<pid_t>& pids, const Clock& clock) {
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  const auto deadline = clock.steady_now() + kStopGrace;
  for (pid_t pid : pids) {
    auto left = std::chrono::duration_cast<Duration>(deadline - clock.steady_now());
    if (!wait_process(pid, std::max(left, Duration{1}))) {
      terminate_process(pid, SIGKILL, std::chrono::seconds(1));
    }
  }
  pids.clear();
}

// nullopt while `pid` runs; its exit description once it has ended (and is reaped).
std::optional<std::string> exited(pid_t pid) {
  auto status = wait_process(pid, Duration{1});
  if (!status) return std::nullopt;
  if (status->signal != 0) return fmt::format("killed by signal {}", status->signal);
  return fmt::format("exited with code {}", status->exit_code);
}

}  // namespace

std::string tail_of_file(const fs::path& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string text;
  for (const auto& line : last) text += "  " + line + "\n";
  return text;
}

LocalCluster::LocalCluster(LocalClusterOptions options, CommandContext& ctx,
                           MasterConnector connect)
    : options_(std::move(options)), ctx_(ctx), connect_(std::move(connect)) {}

LocalCluster::~LocalCluster() { stop(); }

MasterApi& LocalCluster::api() { return *api_; }

Status LocalCluster::start() {
  DROVER_TRY(start_master());
  auto address = wait_master_address();
  if (!address) return address.error();
  url_ = "http://" + *address;
  api_ = connect_(url_);
  DROVER_TRY(wait_master_ready());
  DROVER_TRY(start_workers());
  return wait_workers_alive();
}

void LocalCluster::stop() {
  stop_processes(worker_pids_, ctx_.clock);
  if (master_pid_ > 0) {
    std::vector<pid_t> master{master_pid_};
    stop_processes(master, ctx_.clock);
    master_pid_ = 0;
  }
}

std::string LocalCluster::program(const std::string& name) const {
  std::error_code ec;
  const fs::path beside = options_.bin_dir / name;
  if (!options_.bin_dir.empty() && fs::is_regular_file(beside, ec)) return beside.string();
  return name;  // spawn_process looks it up in PATH
}

Result<pid_t> LocalCluster::spawn(std::vector<std::string> argv, const fs::path& log) {
  SpawnOptions spawn_options;
  spawn_options.argv = std::move(argv);
  spawn_options.stderr_path = log;
  spawn_options.stdout_path = "/dev/null";  // results would mix with ours; they log to stderr
  spawn_options.new_process_group = true;   // the terminal's Ctrl-C is ours to handle
  return spawn_process(spawn_options);
}

Error LocalCluster::with_log_tail(const Error& error, const fs::path& log) const {
  std::string message = error.message + "\n" + log.string() + ":\n" + tail_of_file(log);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  return make_error(error.code, std::move(message), error.field);
}

bool LocalCluster::past(SteadyTime deadline) const { return ctx_.clock.steady_now() >= deadline; }

Status LocalCluster::start_master() {
  const fs::path data = options_.dir / "master";
  auto pid =
      spawn({program("drover-master"), "--listen", "127.0.0.1:0", "--data-dir", data.string()},
            options_.dir / "master.log");
  if (!pid) return pid.error();
  master_pid_ = *pid;
  return ok_status();
}

Result<std::string> LocalCluster::wait_master_address() {
  const fs::path log = options_.dir / "master.log";
  const fs::path addr_file = options_.dir / "master" / "master.addr";
  const auto deadline = ctx_.clock.steady_now() + options_.start_timeout;
  for (;;) {
    if (auto text = read_file(addr_file); text && trim(*text).find(':') != std::string::npos) {
      return trim(*text);
    }
    if (auto how = exited(master_pid_)) {
      master_pid_ = 0;
      return with_log_tail(make_error(ErrorCode::unavailable, "drover-master " + *how), log);
    }
    if (past(deadline)) {
      return with_log_tail(
          make_error(ErrorCode::unavailable, "drover-master did not write " + addr_file.string()),
          log);
    }
    if (ctx_.stop_requested()) return make_error(ErrorCode::internal, "interrupted");
    ctx_.sleep(kStartPoll);
  }
}

Status LocalCluster::wait_master_ready() {
  const auto deadline = ctx_.clock.steady_now() + options_.start_timeout;
  for (;;) {
    auto ready = api_->check_ready();
    if (ready) return ok_status();
    if (past(deadline)) {
      return with_log_tail(
          make_error(ErrorCode::unavailable,
                     "drover-master at " + url_ + " not ready: " + ready.error().describe()),
          options_.dir / "master.log");
    }
    if (ctx_.stop_requested()) return make_error(ErrorCode::internal, "interrupted");
    ctx_.sleep(kStartPoll);
  }
}

Status LocalCluster::start_workers() {
  for (int i = 0; i < options_.workers; ++i) {
    const fs::path work = options_.dir / fmt::format("worker-{}", i);
    std::vector<std::string> argv{program("drover-worker"),
                                  "--master",
                                  url_,
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--id",
                                  worker_id(i),
                                  "--work-dir",
                                  work.string(),
                                  "--cpus",
                                  "1",
                                  // The job is over when they are stopped: no drain to wait out.
                                  "--drain-timeout",
                                  "1s"};
    if (options_.allow_root) {
      argv.push_back("--allow-root");
      argv.push_back("true");
    }
    auto pid = spawn(std::move(argv), options_.dir / fmt::format("worker-{}.log", i));
    if (!pid) return pid.error();
    worker_pids_.push_back(*pid);
  }
  return ok_status();
}

Status LocalCluster::wait_workers_alive() {
  const auto deadline = ctx_.clock.steady_now() + options_.start_timeout;
  std::string missing = worker_id(0);
  for (;;) {
    auto workers = api_->list_workers();
    if (workers) {
      int alive = 0;
      for (int i = 0; i < options_.workers; ++i) {
        const bool up = std::any_of(workers->begin(), workers->end(), [&](const WorkerInfo& w) {
          return w.id == worker_id(i) && w.state == WorkerState::alive;
        });
        if (up) ++alive;
        if (!up && alive == i) missing = worker_id(i);
      }
      if (alive == options_.workers) return ok_status();
    }
    if (past(deadline)) {
      const std::string index = missing.substr(missing.find('-') + 1);
      return with_log_tail(
          make_error(ErrorCode::unavailable, "worker " + missing + " did not register"),
          options_.dir / ("worker-" + index + ".log"));
    }
    if (ctx_.stop_requested()) return make_error(ErrorCode::internal, "interrupted");
    ctx_.sleep(kStartPoll);
  }
}

}  // namespace drover::cli
