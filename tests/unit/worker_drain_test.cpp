// Drain (SPEC §4 guarantee 8): from the master (WorkReply::drain) and from a
// stop signal (Agent::shutdown).
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/unit/worker_agent_fixture.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

struct DrainFixture : testing::AgentRunnerFixture {
  DrainFixture() { options.drain_timeout = 1500ms; }
  // Writes a checkpoint and runs until killed.
  Assignment sleeper(std::int64_t id) {
    return assignment(id, "echo saved > $DROVER_CHECKPOINT_DIR/state; sleep 30");
  }
  int polls() {
    std::lock_guard lock(master.mu);
    return master.polls;
  }
  std::size_t heartbeats() {
    std::lock_guard lock(master.mu);
    return master.heartbeats.size();
  }
  std::vector<std::string> events() {
    std::lock_guard lock(master.mu);
    return master.events;
  }
};

}  // namespace

TEST_CASE_METHOD(DrainFixture, "a drain asked by the master finishes, hands back and idles",
                 "[worker][drain]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{waiter(1), sleeper(2)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(1) && started(2); }, 10s));

  // Assignment 3 arrives with the drain: reported, never started.
  master.push_work(WorkReply{{waiter(3)}, {}, true});
  REQUIRE(test::wait_until([&] { return agent.draining(); }, 10s));
  REQUIRE(test::wait_until([&] { return master.report_count() >= 1; }, 10s));
  auto refused = report_of(3);
  CHECK(refused.state == AttemptState::killed);
  CHECK(refused.reason == "drained");
  CHECK(refused.message == "worker draining");
  CHECK_FALSE(started(3));

  // Attempt 1 ends within drain_timeout: reported as it ended.
  std::ofstream(sandbox(1) / "go") << "";
  REQUIRE(test::wait_until([&] { return master.report_count() >= 2; }, 10s));
  CHECK(report_of(1).state == AttemptState::succeeded);

  // Attempt 2 outlives it: killed, checkpoint saved, handed back as drained.
  REQUIRE(agent.wait_drained(15s));
  auto r2 = report_of(2);
  CHECK(r2.state == AttemptState::killed);
  CHECK(r2.reason == "drained");
  CHECK(r2.message == "worker drained");
  REQUIRE_FALSE(r2.checkpoint_digest.empty());
  CHECK(table.size() == 0);

  // Drained: no more polls, heartbeats go on.
  int polls_then = polls();
  std::size_t heartbeats_then = heartbeats();
  REQUIRE(test::wait_until([&] { return heartbeats() >= heartbeats_then + 2; }, 10s));
  CHECK(polls() == polls_then);
  CHECK(agent.shutdown());
}

TEST_CASE_METHOD(DrainFixture, "a stop signal drains, then leaves", "[worker][drain]") {
  options.drain_timeout = 500ms;
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{sleeper(5)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(5); }, 10s));
  CHECK(agent.shutdown());
  auto r = report_of(5);
  CHECK(r.reason == "drained");
  CHECK(r.message == "worker drained");
  CHECK_FALSE(r.checkpoint_digest.empty());
  // The drain call failed (the fake refuses it): ignored.
  CHECK(events() == std::vector<std::string>{"drain w1", "finished 5", "leave w1"});
}

TEST_CASE_METHOD(DrainFixture, "attempts that end within drain_timeout report normally",
                 "[worker][drain]") {
  options.drain_timeout = 20s;
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{waiter(6)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(6); }, 10s));
  std::thread stopper([&] { CHECK(agent.shutdown()); });
  REQUIRE(test::wait_until([&] { return agent.draining(); }, 10s));
  std::ofstream(sandbox(6) / "go") << "";
  stopper.join();
  CHECK(report_of(6).state == AttemptState::succeeded);
  CHECK(events().back() == "leave w1");
}

TEST_CASE_METHOD(DrainFixture, "hurry ends a drain's wait at once", "[worker][drain]") {
  options.drain_timeout = 60s;
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{sleeper(7)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(7); }, 10s));
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { CHECK(agent.shutdown()); });
  REQUIRE(test::wait_until([&] { return agent.draining(); }, 10s));
  agent.hurry();
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 15s);
  CHECK(report_of(7).reason == "drained");
}
