#pragma once
// LocalCluster: a private drover-master and N drover-workers on 127.0.0.1,
// started as child processes in a temporary directory T for `drover local`.
//
//   T/master/            master data dir; the master writes master.addr there
//   T/master.log         master stderr
//   T/worker-<i>/        worker work dir      T/worker-<i>.log  worker stderr
//
// start() returns once the master answers /readyz and every worker is alive;
// on failure its Error carries the tail of the relevant log. stop() (also run
// by the destructor) sends SIGTERM by PID and waits, SIGKILL after 10 s.
// Owned by the local command; runs on its thread.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/client/master_api.hpp"
#include "cli/commands/context.hpp"

namespace drover::cli {

// Makes a client for a master URL (HttpMasterApi in the binary, a fake in tests).
using MasterConnector = std::function<std::unique_ptr<MasterApi>(const std::string& url)>;

struct LocalClusterOptions {
  std::filesystem::path dir;      // T
  std::filesystem::path bin_dir;  // drover-master/-worker are looked for here, then in PATH
  int workers = 1;
  bool allow_root = false;  // pass --allow-root true to workers (we run as root)
  Duration start_timeout = std::chrono::seconds(10);
};

class LocalCluster {
 public:
  LocalCluster(LocalClusterOptions options, CommandContext& ctx, MasterConnector connect);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  [[nodiscard]] Status start();
  void stop();

  MasterApi& api();  // valid after a successful start()
  const std::string& url() const { return url_; }

 private:
  [[nodiscard]] Status start_master();
  [[nodiscard]] Result<std::string> wait_master_address();
  [[nodiscard]] Status wait_master_ready();
  [[nodiscard]] Status start_workers();
  [[nodiscard]] Status wait_workers_alive();
  [[nodiscard]] Result<pid_t> spawn(std::vector<std::string> argv,
                                    const std::filesystem::path& log);
  std::string program(const std::string& name) const;
  Error with_log_tail(const Error& error, const std::filesystem::path& log) const;
  bool past(std::chrono::steady_clock::time_point deadline) const;

  LocalClusterOptions options_;
  CommandContext& ctx_;
  MasterConnector connect_;
  std::unique_ptr<MasterApi> api_;
  std::string url_;
  pid_t master_pid_ = 0;
  std::vector<pid_t> worker_pids_;
};

// The last `lines` lines of a text file ("" when unreadable).
std::string tail_of_file(const std::filesystem::path& path, std::size_t lines = 20);

}  // namespace drover::cli
