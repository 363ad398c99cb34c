// The worker's queue: the master may assign short tasks beyond a worker's cpus
// (master/scheduler); the agent starts them in order as cpus free up.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/unit/worker_agent_fixture.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

struct QueueFixture : testing::AgentRunnerFixture {
  QueueFixture() {
    options.identity.cpus = 1;
    options.drain_timeout = 10s;
  }
  bool reported(std::int64_t id) {
    std::lock_guard lock(master.mu);
    return std::any_of(master.reports.begin(), master.reports.end(),
                       [&](const auto& r) { return r.first == id; });
  }
  // Attempts the last heartbeat listed (the master loses any it does not list).
  std::vector<std::int64_t> heartbeat_attempts() {
    std::lock_guard lock(master.mu);
    std::vector<std::int64_t> out;
    if (master.heartbeats.empty()) return out;
    for (const auto& p : master.heartbeats.back().running) out.push_back(p.attempt_id);
    return out;
  }
};

}  // namespace

TEST_CASE_METHOD(QueueFixture,
                 "a one-cpu worker holds a second assignment until the first task's process ends",
                 "[worker][queue]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{waiter(1), waiter(2)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(1); }, 10s));
  // Queued, not started: but held, so the heartbeat lists it.
  REQUIRE(test::wait_until([&] { return heartbeat_attempts().size() == 2; }, 10s));
  CHECK_FALSE(started(2));

  // The first ends while the master sits on its report: the second starts
  // anyway, without waiting for that round trip.
  {
    std::lock_guard lock(master.mu);
    master.hold_finished = true;
  }
  let_go(1);
  REQUIRE(test::wait_until([&] { return started(2) && reported(1); }, 10s));
  CHECK(table.find(1) != nullptr);  // its report is not acknowledged yet
  {
    std::lock_guard lock(master.mu);
    master.hold_finished = false;
  }
  master.cv.notify_all();
  let_go(2);
  REQUIRE(test::wait_until([&] { return reported(2); }, 10s));
  CHECK(report_of(1).state == AttemptState::succeeded);
  CHECK(report_of(2).state == AttemptState::succeeded);
  CHECK(agent.shutdown());
}

TEST_CASE_METHOD(QueueFixture, "a queued attempt that is killed is reported at once, never started",
                 "[worker][queue]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{waiter(1), waiter(2), waiter(3)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(1) && table.size() == 3; }, 10s));

  // Killed from the long poll's reply and from a heartbeat's.
  master.push_work(WorkReply{{}, {3}, false});
  {
    std::lock_guard lock(master.mu);
    master.heartbeat_kills = {2};
  }
  REQUIRE(test::wait_until([&] { return reported(2) && reported(3); }, 10s));
  for (std::int64_t id : {2, 3}) {
    auto r = report_of(id);
    CHECK(r.state == AttemptState::killed);
    CHECK(r.reason == "killed");
    CHECK_FALSE(started(id));
  }
  CHECK_FALSE(reported(1));  // still running meanwhile
  let_go(1);
  REQUIRE(test::wait_until([&] { return reported(1); }, 10s));
  CHECK(report_of(1).state == AttemptState::succeeded);
  CHECK(agent.shutdown());
}

TEST_CASE_METHOD(QueueFixture,
                 "a drain hands queued attempts back unstarted and lets the running one finish",
                 "[worker][queue][drain]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{waiter(1), waiter(2)}, {}, false});
  agent.start();
  REQUIRE(test::wait_until([&] { return started(1) && table.size() == 2; }, 10s));
  agent.begin_drain("test");
  REQUIRE(test::wait_until([&] { return reported(2); }, 10s));
  auto handed_back = report_of(2);
  CHECK(handed_back.state == AttemptState::killed);
  CHECK(handed_back.reason == "drained");
  CHECK(handed_back.message == "worker draining");
  CHECK_FALSE(started(2));

  let_go(1);
  REQUIRE(agent.wait_drained(15s));
  CHECK(report_of(1).state == AttemptState::succeeded);
  CHECK(table.size() == 0);
  CHECK(agent.shutdown());
}
