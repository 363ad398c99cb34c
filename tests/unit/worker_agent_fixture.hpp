#pragma once
// An Agent's options and scripted attempts over RunnerFixture (fake master,
// real executor), for the drain and queue tests.
#include <fstream>

#include "tests/unit/worker_runner_fixture.hpp"
#include "worker/agent/agent.hpp"

namespace drover::worker::testing {

struct AgentRunnerFixture : RunnerFixture {
  AgentRunnerFixture() {
    options.identity.id = "w1";
    options.identity.address = "127.0.0.1:1";
    options.shutdown_deadline = std::chrono::seconds(10);
  }
  // Exits 0 once the test creates `go` in its sandbox (let_go; bounded: ~20 s).
  Assignment waiter(std::int64_t id) {
    return assignment(id, "i=0; while [ ! -f go ] && [ $i -lt 400 ]; do sleep 0.05; "
                          "i=$((i+1)); done");
  }
  std::filesystem::path sandbox(std::int64_t id) {
    return AttemptPaths::under(work_path, id).sandbox;
  }
  void let_go(std::int64_t id) { std::ofstream(sandbox(id) / "go") << ""; }

  AgentOptions options;
};

}  // namespace drover::worker::testing
