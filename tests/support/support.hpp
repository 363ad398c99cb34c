#pragma once
// Helpers for tests that run the real binaries: temp dirs, child processes
// stopped by PID, bounded waits, and a local cluster on 127.0.0.1 with
// ephemeral ports.
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/units.hpp"
#include "common/http/client.hpp"
#include "common/proc/process.hpp"

namespace drover::test {

namespace fs = std::filesystem;

struct TempDir {
  TempDir();
  ~TempDir();
  fs::path path;
};

// Descriptors a test opened (sockets), closed when it ends, a failed REQUIRE included.
struct OpenFds {
  OpenFds() = default;
  OpenFds(const OpenFds&) = delete;
  OpenFds& operator=(const OpenFds&) = delete;
  ~OpenFds();
  std::vector<int> fds;
};

// Polls `cond` every `poll` until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, Duration timeout,
                Duration poll = std::chrono::milliseconds(20));

fs::path binary(const std::string& name);  // drover, drover-master, drover-worker
fs::path source_dir();

// A child process; the destructor SIGKILLs it if it still runs.
class Child {
 public:
  // `extra_env` is added to (overrides) the parent's environment.
  Child(std::vector<std::string> argv, fs::path log,
        const std::map<std::string, std::string>& extra_env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  ExitStatus stop(int sig = SIGTERM, Duration grace = std::chrono::seconds(10));
  void kill9();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class Cluster {
 public:
  explicit Cluster(fs::path root, std::vector<std::string> master_flags = {});
  ~Cluster();

  // `env` is added to the master's environment for this start only (e.g.
  // DROVER_CRASH_AT); a later start_master() without it starts a plain master.
  void start_master(const std::map<std::string, std::string>& env = {});
  // Stops the master by its pid; its exit status (SIGKILL: {-1, SIGKILL}).
  ExitStatus stop_master(int sig = SIGTERM);
  Child& start_worker(const std::string& id, double cpus = 1, std::vector<std::string> flags = {});
  bool wait_workers_alive(std::size_t n, Duration timeout = std::chrono::seconds(20));
  // Starts worker `id` again with the arguments it was first started with (same
  // id, work dir, cpus and flags); SIGKILLs the old process first if it still
  // runs. Each restart logs to worker-ID.log.N. REQUIREs a known id.
  Child& restart_worker(const std::string& id);

  // For a master started with --tls-cert/--tls-key: from now on url() is
  // https://, and client(), cli() and workers started later trust `ca_file`.
  void use_tls(fs::path ca_file) { ca_file_ = std::move(ca_file); }

  std::string url() const { return (ca_file_.empty() ? "http://" : "https://") + address_; }
  http::Client client() const;
  // Runs the CLI against this master; bounded by `timeout` (then SIGKILL, exit_code -1).
  CliResult cli(std::vector<std::string> args, Duration timeout = std::chrono::seconds(120));

  nlohmann::json get(const std::string& target);  // REQUIREs 2xx
  const fs::path& root() const { return root_; }
  Child* master() { return master_.get(); }
  Child* worker(const std::string& id);

 private:
  fs::path root_;
  std::vector<std::string> master_flags_;
  std::string address_;
  fs::path ca_file_;  // set by use_tls
  std::unique_ptr<Child> master_;
  std::vector<std::pair<std::string, std::unique_ptr<Child>>> workers_;
  std::vector<std::pair<std::string, std::vector<std::string>>> worker_argv_;  // for restarts
  int restarts_ = 0;
};

// Runs any command to completion with a bound; stdout/stderr captured.
CliResult run_command(const std::vector<std::string>& argv, Duration timeout,
                      const fs::path& scratch);

}  // namespace drover::test
