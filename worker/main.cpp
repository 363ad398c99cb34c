// drover-worker: the composition root. Parses the config, wires the agent, the
// executor, the blob cache, the output store and the log server, runs until
// SIGTERM/SIGINT, then drains (a second signal cuts the drain short).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "common/fs/fs.hpp"
#include "common/http/server.hpp"
#include "common/log/log.hpp"
#include "worker/agent/agent.hpp"
#include "worker/agent/store_master_api.hpp"
#include "worker/agent/task_env.hpp"
#include "worker/config/worker_config.hpp"
#include "worker/executor/process_executor.hpp"
#include "worker/executor/process_group_record.hpp"
#include "worker/log_server.hpp"
#include "worker/sandbox/cleanup.hpp"

using namespace drover;
using namespace drover::worker;

// How a root worker isolates its tasks: private namespaces when this machine
// allows them (not inside most containers),
// else only the run_as user (setpriv). A worker that is not root runs tasks as
// itself, unisolated from each other.
static std::optional<TaskSandbox> task_sandbox(const WorkerConfig& c, const HostFacts& host) {
  if (host.euid != 0) {
    spdlog::warn("not root: tasks run as this user, and attempts are not isolated from each other");
    return std::nullopt;
  }
  TaskSandbox sandbox{c.work_dir, std::nullopt, std::nullopt};
  if (c.task_user) {
    sandbox.uid = c.task_user->uid;
    sandbox.gid = c.task_user->gid;
  }
  Status works = probe_sandbox(sandbox, c.work_dir / "attempts");
  if (!works.ok()) {
    spdlog::warn("attempts are NOT isolated from each other (no private namespaces): {}",
                 works.error().describe());
    return std::nullopt;
  }
  spdlog::info("tasks run in private mount, pid and IPC namespaces");
  return sandbox;
}

// Wires the worker and runs it until one of `stop_signals`; returns the exit code.
static int run(const WorkerConfig& c, const HostFacts& host, const sigset_t& stop_signals) {
  SystemClock clock;
  StopSignal stop;
  AttemptTable table;
  HttpMasterApi http_master(c.master, c.token, c.ca_file);  // thread-safe: shared by all threads
  OutputStore store;                             // fixed by the first registration reply
  StoreMasterApi master(http_master, store);     // blobs to the shared store when it is one
  BlobCache cache(c.work_dir, [&](const std::string& d) { return master.fetch_blob(d); });
  std::unique_ptr<Limits> limits = choose_limits(c.id);
  spdlog::info("per-task memory limits: {}", limits->name());
  ProcessExecutorOptions executor_options;
  executor_options.limits = limits.get();
  executor_options.sandbox = task_sandbox(c, host);
  executor_options.kept_sandboxes = attempts_kept(c.cpus);
  if (c.task_user && !executor_options.sandbox) {
    executor_options.argv_prefix = setpriv_prefix(c.task_user->uid, c.task_user->gid);
  }
  ProcessExecutor executor(clock, executor_options);
  // Recycled only in the sandbox, where no process of a task outlives it.
  SpareAttemptDirs spares(c.work_dir / "attempts", attempts_kept(c.cpus),
                          executor_options.sandbox.has_value());
  spares.refill();
  AttemptRunner runner({c.work_dir, c.task_user, task_path(std::getenv("PATH"))},
                       {master, executor, cache, table, clock, stop, &store, &spares});
  http::EventLoop loop;
  http::Router router;
  add_log_routes(router, table);
  // With auth, only the master reads logs here, with a token this worker makes
  // up now and gives it at registration (never the workers' shared token,
  // which would then cross the network to every worker).
  std::string log_token;
  if (!c.token.empty()) {
    auto made = random_token();
    if (!made.ok()) {
      std::fprintf(stderr, "drover-worker: %s\n", made.error().describe().c_str());
      return 1;
    }
    log_token = *made;
    router.guard([token_hash = sha256_hex(log_token)](http::Request& req, const std::string&,
                                                      const std::string&) -> std::optional<Error> {
      const std::string presented = http::bearer_token(req);
      if (presented.empty()) return make_error(ErrorCode::unauthorized, "this needs the master's log token");
      if (sha256_hex(presented) != token_hash) return make_error(ErrorCode::unauthorized, "unknown token");
      return std::nullopt;
    });
  }
  http::ServerOptions server_options;
  server_options.listen = c.listen;
  http::Server server(loop, router, server_options);
  auto bound = server.start();
  if (!bound.ok()) {
    std::fprintf(stderr, "drover-worker: listen: %s\n", bound.error().describe().c_str());
    return 1;
  }
  std::thread log_thread([&] { loop.run(); });

  AgentOptions agent_options;
  agent_options.identity = {c.id,     advertised_address(*bound, host.hostname),
                            c.cpus,   c.memory,
                            c.labels, {},
                            false,    log_token};
  agent_options.drain_timeout = c.drain_timeout;
  Agent agent(agent_options, master, runner, table, stop);
  // Removes attempt dirs left behind and keeps the cache under cache_size.
  Cleaner cleaner(clock, {c.work_dir, c.keep_attempts, c.cache_size}, cache,
                  [&table] { return table.ids(); });
  cleaner.start();  // stopped by its destructor
  spdlog::info("worker {} serving logs on {}, master {}", c.id, *bound, c.master);
  agent.start();

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("received {}; draining, then leaving", signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::atomic<bool> done{false};
  std::thread second([&] {  // a second signal ends the drain's wait at once
    int again = 0;
    sigwait(&stop_signals, &again);
    if (done.load()) return;
    spdlog::info("received a second signal: stopping the remaining attempts now");
    agent.hurry();
  });
  bool clean = agent.shutdown();
  done.store(true);
  pthread_kill(second.native_handle(), SIGTERM);  // wakes its sigwait
  second.join();
  loop.post([&] {
    server.stop();
    loop.stop();
  });
  log_thread.join();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  if (!clean) std::_Exit(0);  // a thread still blocks in a long poll: skip destructors
  return 0;
}

int main(int argc, char** argv) {
  init_logging("drover-worker");
  sigset_t stop_signals;  // blocked in every thread; the main thread waits for them
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto loaded = load_config("drover-worker", worker_config_keys(), {argv, argv + argc});
  if (loaded.ok() && loaded->help_requested) return std::puts(loaded->help_text.c_str()) < 0;
  const HostFacts host = host_facts();
  auto config = loaded.ok() ? make_worker_config(loaded->values, host) : loaded.error();
  if (config.ok()) kill_recorded_groups(config->work_dir);  // orphans of a crashed run
  Status ready = config.ok() ? reset_work_dir(config->work_dir) : config.error();
  if (!ready.ok()) {
    std::fprintf(stderr, "drover-worker: %s\n", ready.error().describe().c_str());
    return config.ok() ? 1 : 2;
  }
  return run(*config, host, stop_signals);
}
