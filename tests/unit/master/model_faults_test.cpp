// Fault-handling rules of the Model: exclusion, no-retry exit codes, drain,
// lineage, checkpoints, workers that vanish.
#include <catch2/catch.hpp>

#include "master/model/model.hpp"
#include "master/scheduler/scheduler.hpp"
#include "tests/unit/master/model_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;
using namespace std::chrono_literals;

namespace {

const char* kOneStage = "name: j\nmax_attempts: 9\nretry_backoff: 1ms\nstages:\n"
                        "  - name: s\n    command: [x]\n    inputs: {range: 1}\n";

}  // namespace

TEST_CASE("three failures in a row exclude a worker for exclude_for", "[model][faults]") {
  ManualClock clock;
  Model m(1min);
  m.register_worker(reg("w1"), clock.now());
  m.submit(job_of(kOneStage), clock.now());
  for (int i = 0; i < kExcludeAfterFailures; ++i) {
    auto a = schedule(m, clock.now());
    REQUIRE(a.size() == 1);
    REQUIRE(m.finished(a[0], "w1", report(AttemptState::failed, 1), clock.now()).ok());
    clock.advance(10ms);
  }
  CHECK(m.worker("w1")->state == WorkerState::excluded);
  CHECK(schedule(m, clock.now()).empty());  // never assigned to an excluded worker
  clock.advance(59s);
  m.expire_workers(clock.now(), 1h);
  CHECK(m.worker("w1")->state == WorkerState::excluded);
  clock.advance(2s);
  CHECK(m.expire_workers(clock.now(), 1h).reschedule);
  CHECK(m.worker("w1")->state == WorkerState::alive);
  CHECK(schedule(m, clock.now()).size() == 1);
}

TEST_CASE("a success resets the failure streak", "[model][faults]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  m.submit(job_of("name: j\nmax_attempts: 9\nretry_backoff: 1ms\nstages:\n"
                  "  - name: s\n    command: [x]\n    inputs: {range: 4}\n"),
           clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 4);
  REQUIRE(m.finished(a[0], "w1", report(AttemptState::failed, 1), clock.now()).ok());
  REQUIRE(m.finished(a[1], "w1", report(AttemptState::failed, 1), clock.now()).ok());
  REQUIRE(m.finished(a[2], "w1", report(AttemptState::succeeded), clock.now()).ok());
  REQUIRE(m.finished(a[3], "w1", report(AttemptState::failed, 1), clock.now()).ok());
  CHECK(m.worker("w1")->state == WorkerState::alive);
  CHECK(m.worker("w1")->failures_in_a_row == 1);
}

TEST_CASE("an exit code in no_retry_exit_codes fails the task at once", "[model][faults]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  JobId id = m.submit(job_of("name: j\nmax_attempts: 5\nno_retry_exit_codes: [2]\nstages:\n"
                             "  - name: s\n    command: [x]\n"),
                      clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(m.finished(a[0], "w1", report(AttemptState::failed, 2), clock.now()).ok());
  CHECK(m.job(id)->state == JobState::failed);
  CHECK(m.job(id)->message.find("no_retry_exit_codes") != std::string::npos);
}

TEST_CASE("a draining worker gets nothing new and a killed hand-back does not count", "[model][faults]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  JobId id = m.submit(job_of("name: j\nmax_attempts: 1\nstages:\n  - name: s\n    command: [x]\n"
                             "    inputs: {range: 2}\n"),
                      clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  REQUIRE(m.drain("w1").ok());
  CHECK(m.drain("nope").error().code == ErrorCode::not_found);
  AttemptReport drained = report(AttemptState::killed, -1);
  drained.reason = FailureReason::drained;
  REQUIRE(m.finished(a[0], "w1", drained, clock.now()).ok());
  CHECK(m.job(id)->state == JobState::running);  // max_attempts 1, yet not failed
  CHECK(schedule(m, clock.now()).empty());
  m.register_worker(reg("w1", 1), clock.now());  // a restart ends the drain
  auto b = schedule(m, clock.now());
  REQUIRE(b.size() == 1);
  CHECK(m.attempt(b[0])->number == 2);
}

TEST_CASE("a missing upstream output reruns only its producing task", "[model][faults]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  JobId id = m.submit(job_of("name: j\nmax_attempts: 1\nstages:\n"
                             "  - name: map\n    command: [x]\n    inputs: {range: 3}\n"
                             "  - name: reduce\n    after: [map]\n    command: [x]\n"),
                      clock.now()).id;
  for (AttemptId a : schedule(m, clock.now())) {
    REQUIRE(m.finished(a, "w1", report(AttemptState::succeeded), clock.now()).ok());
  }
  auto r = schedule(m, clock.now());
  REQUIRE(r.size() == 1);
  AttemptReport lost_input = report(AttemptState::failed, -1);
  lost_input.reason = FailureReason::drover_error;
  lost_input.missing_upstream = {UpstreamOutput{"map", 1, std::string(64, 'b')}};
  REQUIRE(m.finished(r[0], "w1", lost_input, clock.now()).ok());
  CHECK(m.job(id)->state == JobState::running);  // max_attempts 1, but not its fault
  auto again = schedule(m, clock.now());
  REQUIRE(again.size() == 1);  // only map/1; reduce waits for it
  CHECK(m.attempt(again[0])->task == TaskKey{id, 0, 1});
  REQUIRE(m.finished(again[0], "w1", report(AttemptState::succeeded), clock.now()).ok());
  auto reduce = schedule(m, clock.now());
  REQUIRE(reduce.size() == 1);
  CHECK(m.attempt(reduce[0])->task == TaskKey{id, 1, 0});
}

TEST_CASE("checkpoints are kept per task and handed to the next attempt", "[model][faults]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  m.submit(job_of(kOneStage), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(m.checkpoint(a[0], std::string(64, 'c')).ok());
  Effects fx = m.mark_dead("w1", "connection closed", clock.now());
  CHECK(fx.reschedule);
  CHECK(m.attempt(a[0])->state == AttemptState::lost);
  CHECK(m.checkpoint(a[0], std::string(64, 'd')).error().code == ErrorCode::conflict);
  m.register_worker(reg("w2"), clock.now());
  auto b = schedule(m, clock.now());
  REQUIRE(b.size() == 1);
  CHECK(m.assignment_for(*m.attempt(b[0])).checkpoint_digest == std::string(64, 'c'));
}

TEST_CASE("retry backoff doubles and is capped at one minute", "[model][faults]") {
  ManualClock clock;
  Model m(1ms);  // exclusions (after 3 failures in a row) end before the next retry is due
  m.register_worker(reg("w1", 1), clock.now());
  m.submit(job_of("name: j\nmax_attempts: 9\nretry_backoff: 20s\nstages:\n  - name: s\n"
                  "    command: [x]\n"),
           clock.now());
  std::vector<Duration> waits;
  for (int i = 0; i < 4; ++i) {
    auto a = schedule(m, clock.now());
    REQUIRE(a.size() == 1);
    REQUIRE(m.finished(a[0], "w1", report(AttemptState::failed, 1), clock.now()).ok());
    auto view = build_view(m, clock.now(), 10);
    REQUIRE(view.next_not_before);
    waits.push_back(*view.next_not_before - clock.now());
    clock.set(*view.next_not_before);
    m.expire_workers(clock.now(), 1h);
  }
  CHECK(waits == std::vector<Duration>{20s, 40s, 60s, 60s});
}

TEST_CASE("the event log names lost attempts, their worker and the retry", "[model][faults][events]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  m.submit(job_of(kOneStage), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  REQUIRE(m.started(a[0], "w1", clock.now()).ok());
  m.mark_dead("w1", "connection closed", clock.now());
  std::vector<std::string> seen;
  for (const auto& [job, e] : m.dirty().events) {
    seen.push_back(e.type + " " + e.worker + " " + e.reason + " " + e.message);
  }
  CHECK(seen == std::vector<std::string>{"submitted   1 task in 1 stage", "assigned w1  ",
                                         "started w1  ", "lost w1 lost_worker connection closed"});
}
