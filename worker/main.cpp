// drover-worker: the composition root. Parses the config, wires the agent, the
// executor, the blob cache and the log server, runs until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "common/base/clock.hpp"
#include "common/http/event_loop.hpp"
#include "common/http/server.hpp"
#include "common/log/log.hpp"
#include "worker/agent/agent.hpp"
#include "worker/agent/task_env.hpp"
#include "worker/config/worker_config.hpp"
#include "worker/executor/process_executor.hpp"
#include "worker/log_server.hpp"

using namespace drover;
using namespace drover::worker;

namespace {
int fail(int exit_code, std::string_view what, const Error& error) {
  fmt::print(stderr, "drover-worker: {}{}\n", what, error.describe());
  return exit_code;
}
}  // namespace

int main(int argc, char** argv) {
  init_logging("drover-worker");
  sigset_t stop_signals;  // blocked in every thread; the main thread waits for them
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto loaded = load_config("drover-worker", worker_config_keys(), {argv, argv + argc});
  if (loaded.ok() && loaded->help_requested) {
    std::fputs(loaded->help_text.c_str(), stdout);
    return 0;
  }
  const HostFacts host = host_facts();
  auto config = loaded.ok() ? make_worker_config(loaded->values, host) : loaded.error();
  if (!config.ok()) return fail(2, "", config.error());
  if (Status ready = reset_work_dir(config->work_dir); !ready.ok()) {
    return fail(1, "work_dir: ", ready.error());
  }

  SystemClock clock;
  StopSignal stop;
  AttemptTable table;
  HttpMasterApi master(config->master, config->token);
  BlobCache cache(config->work_dir, [&](const std::string& d) { return master.fetch_blob(d); });
  ProcessExecutorOptions exec_options;
  if (const auto& user = config->task_user) {
    exec_options.argv_prefix = setpriv_prefix(user->uid, user->gid);
  }
  ProcessExecutor executor(clock, exec_options);
  RunnerOptions runner_options{config->work_dir, config->task_user, task_path(std::getenv("PATH"))};
  AttemptRunner runner(runner_options, {master, executor, cache, table, clock, stop});

  http::EventLoop loop;
  http::Router router;
  add_log_routes(router, table);
  http::ServerOptions server_options;
  server_options.listen = config->listen;
  http::Server server(loop, router, server_options);
  auto bound = server.start();
  if (!bound.ok()) return fail(1, "listen: ", bound.error());
  std::thread log_thread([&] { loop.run(); });

  AgentOptions agent_options;
  agent_options.identity = {config->id, advertised_address(*bound, host.hostname), config->cpus,
                            config->memory, config->labels, {}};
  Agent agent(agent_options, master, runner, table, stop);
  spdlog::info("worker {} serving logs on {}, master {}", config->id, *bound, config->master);
  agent.start();

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("received {}; shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  bool clean = agent.shutdown();
  loop.post([&] { server.stop(); loop.stop(); });
  log_thread.join();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  if (!clean) std::_Exit(0);  // a thread is still blocked in a long poll: skip destructors
  return 0;
}
