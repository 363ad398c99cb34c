// Job, task and attempt state transitions of the Model, with a manual clock.
#include <catch2/catch.hpp>

#include "master/model/model.hpp"
#include "master/model/views.hpp"
#include "master/scheduler/scheduler.hpp"
#include "tests/unit/master/model_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;
using namespace std::chrono_literals;

namespace {

JobSpec two_stage_spec(int tasks, int max_attempts = 3) {
  auto spec = parse_job_spec(
      "name: t\nmax_attempts: " + std::to_string(max_attempts) +
      "\nretry_backoff: 1s\nstages:\n"
      "  - name: map\n    command: [\"true\"]\n    inputs: {range: " + std::to_string(tasks) + "}\n"
      "  - name: reduce\n    after: [map]\n    command: [\"true\"]\n");
  REQUIRE(spec.ok());
  return *spec;
}

AttemptReport ok_report() { return report(AttemptState::succeeded); }
AttemptReport fail_report(int code) { return report(AttemptState::failed, code); }

}  // namespace

TEST_CASE("a job runs stage by stage to success", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  const Job& job = m.submit(new_job(two_stage_spec(3)), clock.now());
  JobId id = job.id;
  CHECK(job.state == JobState::queued);

  auto first = schedule(m, clock.now());
  REQUIRE(first.size() == 3);  // reduce waits for map
  CHECK(m.job(id)->state == JobState::running);
  CHECK(m.worker("w1")->cpus_used == 3);
  for (AttemptId a : first) {
    REQUIRE(m.started(a, "w1", clock.now()).ok());
    REQUIRE(m.finished(a, "w1", ok_report(), clock.now()).ok());
  }
  CHECK(m.worker("w1")->cpus_used == 0);
  auto second = schedule(m, clock.now());
  REQUIRE(second.size() == 1);
  Assignment as = m.assignment_for(*m.attempt(second[0]));
  CHECK(as.stage == "reduce");
  CHECK(as.upstream.size() == 3);
  REQUIRE(m.finished(second[0], "w1", ok_report(), clock.now()).ok());
  CHECK(m.job(id)->state == JobState::succeeded);
  CHECK(job_info(m, *m.job(id), true).counts.at("succeeded") == 4);
}

TEST_CASE("a failed attempt retries after a doubling backoff, then fails the job", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  JobId id = m.submit(new_job(two_stage_spec(1, 3)), clock.now()).id;
  auto a1 = schedule(m, clock.now());
  REQUIRE(a1.size() == 1);
  REQUIRE(m.finished(a1[0], "w1", fail_report(3), clock.now()).ok());
  TaskKey key{id, 0, 0};
  CHECK(m.task(key).state == TaskState::pending);
  CHECK(schedule(m, clock.now()).empty());  // backoff 1s
  SchedulerView view = build_view(m, clock.now(), 10);
  REQUIRE(view.next_not_before);
  CHECK(*view.next_not_before == clock.now() + 1s);
  clock.advance(1s);
  auto a2 = schedule(m, clock.now());
  REQUIRE(a2.size() == 1);
  CHECK(m.attempt(a2[0])->number == 2);
  REQUIRE(m.finished(a2[0], "w1", fail_report(3), clock.now()).ok());
  clock.advance(1s);
  CHECK(schedule(m, clock.now()).empty());  // second backoff is 2s
  clock.advance(1s);
  auto a3 = schedule(m, clock.now());
  REQUIRE(a3.size() == 1);
  REQUIRE(m.finished(a3[0], "w1", fail_report(3), clock.now()).ok());
  CHECK(m.job(id)->state == JobState::failed);
  CHECK(m.job(id)->message.find("failed 3 times") != std::string::npos);
}

TEST_CASE("reports from fenced attempts are refused", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  m.register_worker(reg("w2"), clock.now());
  m.submit(new_job(two_stage_spec(1)), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  WorkerId w = m.attempt(a[0])->worker;
  WorkerId other = w == "w1" ? "w2" : "w1";
  CHECK(m.finished(a[0], other, ok_report(), clock.now()).error().code == ErrorCode::conflict);
  CHECK(m.finished(a[0] + 100, w, ok_report(), clock.now()).error().code == ErrorCode::conflict);
  REQUIRE(m.finished(a[0], w, ok_report(), clock.now()).ok());
  CHECK(m.finished(a[0], w, ok_report(), clock.now()).error().code == ErrorCode::conflict);
}

TEST_CASE("a silent worker dies and its attempts are lost and rerun without counting", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  JobId id = m.submit(new_job(two_stage_spec(2, 1)), clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 2);
  clock.advance(5s);
  CHECK(m.expire_workers(clock.now(), 10s).kill.empty());
  CHECK(m.worker("w1")->state == WorkerState::alive);
  clock.advance(6s);
  Effects fx = m.expire_workers(clock.now(), 10s);
  CHECK(fx.reschedule);
  CHECK(m.worker("w1")->state == WorkerState::dead);
  CHECK(m.attempt(a[0])->state == AttemptState::lost);
  CHECK(m.task(TaskKey{id, 0, 0}).state == TaskState::pending);
  CHECK(m.job(id)->state == JobState::running);  // max_attempts 1, but lost does not count
  CHECK_FALSE(m.heartbeat("w1", {}, clock.now(), 10s).has_value());  // must re-register
  m.register_worker(reg("w2"), clock.now());
  auto b = schedule(m, clock.now());
  CHECK(b.size() == 2);
  CHECK(m.attempt(b[0])->worker == "w2");
  CHECK(m.attempt(b[0])->number == 2);
}

TEST_CASE("a task lost ten times fails the job", "[model]") {
  ManualClock clock;
  Model m;
  JobId id = m.submit(new_job(two_stage_spec(1)), clock.now()).id;
  for (int i = 0; i < kMaxLostAttempts; ++i) {
    m.register_worker(reg("w"), clock.now());
    REQUIRE(schedule(m, clock.now()).size() == 1);
    clock.advance(20s);
    m.expire_workers(clock.now(), 10s);
  }
  CHECK(m.job(id)->state == JobState::failed);
  CHECK(m.job(id)->message.find("lost 10 times") != std::string::npos);
}

TEST_CASE("re-registration adopts reported attempts and loses the others", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1"), clock.now());
  m.submit(new_job(two_stage_spec(2)), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 2);
  WorkerRegistration again = reg("w1");
  again.running = {a[0], 999};
  Effects fx = m.register_worker(again, clock.now());
  CHECK(m.attempt(a[0])->state == AttemptState::assigned);  // adopted
  CHECK(m.attempt(a[1])->state == AttemptState::lost);
  REQUIRE(fx.kill.size() == 1);
  CHECK(fx.kill[0].second == 999);
}

TEST_CASE("a worker's log token comes with its registration and follows its heartbeats", "[model]") {
  ManualClock clock;
  Model m;
  WorkerRegistration r = reg("w1");
  r.log_token = "first";
  m.register_worker(r, clock.now());
  CHECK(m.worker("w1")->log_token == "first");
  Heartbeat hb;
  hb.log_token = "second";  // a master restarted since the registration learns it here
  REQUIRE(m.heartbeat("w1", hb, clock.now(), 10s).has_value());
  CHECK(m.worker("w1")->log_token == "second");
}

TEST_CASE("cancel kills active attempts and schedules nothing more", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  JobId id = m.submit(new_job(two_stage_spec(3)), clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  auto fx = m.cancel(id, clock.now());
  REQUIRE(fx.ok());
  REQUIRE(fx->kill.size() == 1);
  CHECK(fx->kill[0] == std::make_pair(WorkerId("w1"), a[0]));
  CHECK(m.job(id)->state == JobState::cancelled);
  CHECK(schedule(m, clock.now()).empty());
  CHECK(m.cancel(id, clock.now()).error().code == ErrorCode::conflict);
  CHECK(m.cancel("nope", clock.now()).error().code == ErrorCode::not_found);
}

TEST_CASE("higher priority jobs are scheduled first, then submit order", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  JobSpec low = two_stage_spec(1);
  JobSpec high = two_stage_spec(1);
  high.priority = 5;
  m.submit(new_job(low), clock.now());
  JobId hi = m.submit(new_job(high), clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  CHECK(m.attempt(a[0])->task.job == hi);
}

TEST_CASE("a busy worker gets a short stage's tasks queued up to kQueuePerCpu per cpu, a slow stage's none",
          "[model][scheduler]") {
  auto run_for = GENERATE(10ms, 1000ms);
  INFO("each run takes " << run_for.count() << " ms");
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  m.submit(new_job(two_stage_spec(20)), clock.now());
  // Until three runs tell how long tasks take, one cpu takes one task.
  for (std::size_t i = 0; i < kQueueMinRuns; ++i) {
    auto a = schedule(m, clock.now());
    REQUIRE(a.size() == 1);
    CHECK(schedule(m, clock.now()).empty());
    REQUIRE(m.started(a[0], "w1", clock.now()).ok());
    clock.advance(run_for);
    REQUIRE(m.finished(a[0], "w1", ok_report(), clock.now()).ok());
  }
  auto next = schedule(m, clock.now());
  const std::size_t expected = run_for < 200ms ? 1 + static_cast<std::size_t>(kQueuePerCpu) : 1;
  CHECK(next.size() == expected);
  CHECK(m.worker("w1")->cpus_used == static_cast<double>(expected));
  // Shown as one slot used, with every attempt it holds counted as running.
  WorkerInfo shown = worker_info(*m.worker("w1"), clock.now());
  CHECK(shown.cpus_used == 1);
  CHECK(shown.running == static_cast<int>(expected));
  CHECK(schedule(m, clock.now()).empty());
  // A second worker joins: the free cpu is filled before any queue grows.
  m.register_worker(reg("w2", 1), clock.now());
  auto joined = schedule(m, clock.now());
  REQUIRE_FALSE(joined.empty());
  CHECK(m.attempt(joined[0])->worker == "w2");
}

TEST_CASE("a quick task's finished report without a started one records its start",
          "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  m.submit(new_job(two_stage_spec(3)), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  const TimePoint started = clock.now() + 5ms;
  clock.advance(12ms);
  m.dirty().events.clear();
  AttemptReport r = ok_report();
  r.started_at = to_millis(started);
  r.finished_at = to_millis(clock.now());
  REQUIRE(m.finished(a[0], "w1", r, clock.now()).ok());
  CHECK(m.attempt(a[0])->started_at == started);
  std::vector<std::string> types;
  for (const auto& [job, e] : m.dirty().events) types.push_back(e.type);
  CHECK(types == std::vector<std::string>{"started", "finished", "committed"});
  CHECK(m.job(m.attempt(a[0])->task.job)->stages[0].run_ms == std::vector<std::int64_t>{7});

  // One that never ran (killed while queued, or its set-up failed) did not start.
  auto b = schedule(m, clock.now());
  REQUIRE(b.size() == 1);
  m.dirty().events.clear();
  AttemptReport k;
  k.state = AttemptState::killed;
  k.reason = FailureReason::drained;
  k.started_at = k.finished_at = to_millis(clock.now());
  REQUIRE(m.finished(b[0], "w1", k, clock.now()).ok());
  for (const auto& [job, e] : m.dirty().events) CHECK(e.type != "started");
}
