// Data-parallel job controls in the Model and scheduler, with a manual clock:
// max_failed_tasks / partial, max_running, speculation, cache, rerun, partitions.
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

AttemptReport ok_with(const std::string& digest) {
  AttemptReport r = report(AttemptState::succeeded);
  r.output_digest = digest;
  return r;
}

std::string digest_of(char c) { return std::string(64, c); }

// Runs every task the scheduler places now to success (outputs named by index).
void run_all_ok(Model& m, TimePoint now) {
  for (AttemptId id : schedule(m, now)) {
    const Attempt& a = *m.attempt(id);
    REQUIRE(m.started(id, a.worker, now).ok());
    REQUIRE(m.finished(id, a.worker, ok_with(digest_of(static_cast<char>('c' + a.task.index % 20))), now).ok());
  }
}

// Ends every attempt on w1: task `poisoned` exits 3, the others succeed.
void finish_with_poison(Model& m, const std::vector<AttemptId>& attempts, std::int64_t poisoned,
                        TimePoint now) {
  for (AttemptId a : attempts) {
    bool poison = m.attempt(a)->task.index == poisoned;
    REQUIRE(m.finished(a, "w1", poison ? report(AttemptState::failed, 3) : ok_with(digest_of('d')), now)
                .ok());
  }
}

const char* kTwoStages = R"(
name: dp
max_attempts: 1
max_failed_tasks: 1
stages:
  - name: map
    command: ["true"]
    inputs: {range: 3}
  - name: reduce
    after: [map]
    command: ["true"]
)";

}  // namespace

TEST_CASE("max_failed_tasks lets the job finish partial, listing the failed input", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  JobId id = m.submit(job_of(kTwoStages), clock.now()).id;
  auto first = schedule(m, clock.now());
  REQUIRE(first.size() == 3);
  finish_with_poison(m, first, 1, clock.now());
  CHECK(m.job(id)->state == JobState::running);  // one failure is allowed
  CHECK(m.task(TaskKey{id, 0, 1}).state == TaskState::failed);
  auto second = schedule(m, clock.now());
  REQUIRE(second.size() == 1);  // reduce runs on what succeeded
  CHECK(m.assignment_for(*m.attempt(second[0])).upstream.size() == 2);
  REQUIRE(m.finished(second[0], "w1", ok_with(digest_of('e')), clock.now()).ok());
  CHECK(m.job(id)->state == JobState::partial);
  JobInfo info = job_info(m, *m.job(id), true);
  REQUIRE(info.failed_tasks.size() == 1);
  CHECK(info.failed_tasks[0].stage == "map");
  CHECK(info.failed_tasks[0].index == 1);
  CHECK(info.failed_tasks[0].input == "1");
  CHECK(info.failed_tasks[0].message == "exit code 3");
}

TEST_CASE("one failure more than max_failed_tasks fails the job", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  JobId id = m.submit(job_of(kTwoStages), clock.now()).id;
  auto first = schedule(m, clock.now());
  REQUIRE(m.finished(first[0], "w1", report(AttemptState::failed, 3), clock.now()).ok());
  CHECK(m.job(id)->state == JobState::running);
  auto fx = m.finished(first[1], "w1", report(AttemptState::failed, 3), clock.now());
  REQUIRE(fx.ok());
  CHECK(m.job(id)->state == JobState::failed);
  CHECK(fx->kill.size() == 1);  // the third task's attempt is killed
}

TEST_CASE("max_running caps a job's and a stage's active attempts", "[scheduler]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 16), clock.now());
  JobId capped = m.submit(job_of("name: a\nmax_running: 3\nstages:\n  - name: s\n    command: [x]\n"
                                 "    inputs: {range: 10}\n"),
                          clock.now()).id;
  auto first = schedule(m, clock.now());
  CHECK(first.size() == 3);
  CHECK(schedule(m, clock.now()).empty());  // still 3 running
  REQUIRE(m.finished(first[0], "w1", ok_with(digest_of('d')), clock.now()).ok());
  CHECK(schedule(m, clock.now()).size() == 1);  // one slot under the cap again
  CHECK(m.job(capped)->state == JobState::running);

  JobId staged = m.submit(job_of("name: b\nstages:\n  - name: s\n    command: [x]\n"
                                 "    max_running: 2\n    inputs: {range: 10}\n"),
                          clock.now()).id;
  std::size_t of_b = 0;
  for (AttemptId a : schedule(m, clock.now())) of_b += m.attempt(a)->task.job == staged;
  CHECK(of_b == 2);
}

TEST_CASE("speculation copies a straggler elsewhere and the first commit wins", "[scheduler]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 10), clock.now());
  JobId id = m.submit(job_of("name: s\nspeculation: true\nstages:\n  - name: s\n    command: [x]\n"
                             "    inputs: {range: 10}\n"),
                      clock.now()).id;
  auto attempts = schedule(m, clock.now());
  REQUIRE(attempts.size() == 10);
  for (AttemptId a : attempts) REQUIRE(m.started(a, "w1", clock.now()).ok());
  m.register_worker(reg("w2", 2), clock.now());
  WorkerRegistration again = reg("w1", 10);
  again.running = attempts;
  m.register_worker(again, clock.now());
  clock.advance(2s);
  for (std::size_t i = 0; i < 9; ++i) {
    REQUIRE(m.finished(attempts[i], "w1", ok_with(digest_of('d')), clock.now()).ok());
  }
  // Median 2s: task 9 is not a straggler until it ran 3s (1.5x, and >= 1s longer).
  SchedulerView early = build_view(m, clock.now(), 100);
  CHECK(early.candidates.empty());
  REQUIRE(early.next_not_before.has_value());  // it will look again
  clock.advance(2s);
  SchedulerView view = build_view(m, clock.now(), 100);
  REQUIRE(view.candidates.size() == 1);
  CHECK(view.candidates[0].speculative);
  Plan p = plan(view, clock.now());
  REQUIRE(p.assignments.size() == 1);
  CHECK(p.assignments[0].second == "w2");  // never next to the first copy
  const Attempt& copy = m.assign(p.assignments[0].first, "w2", clock.now());
  AttemptId copy_id = copy.id;
  CHECK(m.active_attempts(m.task(TaskKey{id, 0, 9})).size() == 2);
  CHECK(build_view(m, clock.now(), 100).candidates.empty());  // one copy at most

  SECTION("the copy commits first: the original is killed") {
    auto fx = m.finished(copy_id, "w2", ok_with(digest_of('e')), clock.now());
    REQUIRE(fx.ok());
    REQUIRE(fx->kill.size() == 1);
    CHECK(fx->kill[0] == std::make_pair(WorkerId("w1"), attempts[9]));
    CHECK(m.attempt(attempts[9])->state == AttemptState::killed);
    CHECK(m.task(TaskKey{id, 0, 9}).output_digest == digest_of('e'));
    CHECK(m.job(id)->state == JobState::succeeded);
    // The loser's late report is fenced: nothing overwrites the committed output.
    CHECK_FALSE(m.finished(attempts[9], "w1", ok_with(digest_of('f')), clock.now()).ok());
    CHECK(m.task(TaskKey{id, 0, 9}).output_digest == digest_of('e'));
  }
  SECTION("a failing copy does not fail the task while the original runs") {
    REQUIRE(m.finished(copy_id, "w2", report(AttemptState::failed, 1), clock.now()).ok());
    CHECK(m.task(TaskKey{id, 0, 9}).state == TaskState::running);
    CHECK(m.job(id)->state == JobState::running);
    REQUIRE(m.finished(attempts[9], "w1", ok_with(digest_of('g')), clock.now()).ok());
    CHECK(m.job(id)->state == JobState::succeeded);
  }
}

TEST_CASE("cache: a task whose key has a committed output succeeds without running", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  const std::string yaml = "name: c\nstages:\n  - name: s\n    command: [x]\n    cache: true\n"
                           "    inputs: {range: 2}\n  - name: t\n    after: [s]\n    cache: true\n"
                           "    command: [y]\n";
  auto all_exist = [](const std::string&) { return true; };
  JobId first = m.submit(job_of(yaml), clock.now()).id;
  CHECK_FALSE(m.resolve_cached(clock.now(), all_exist));  // nothing cached yet
  run_all_ok(m, clock.now());
  CHECK_FALSE(m.resolve_cached(clock.now(), all_exist));
  run_all_ok(m, clock.now());
  REQUIRE(m.job(first)->state == JobState::succeeded);
  CHECK(m.cache().size() == 3);

  JobId again = m.submit(job_of(yaml), clock.now()).id;
  CHECK(m.resolve_cached(clock.now(), all_exist));  // s, then t whose upstream is now known
  CHECK(m.job(again)->state == JobState::succeeded);
  CHECK(m.task(TaskKey{again, 0, 1}).cached);
  CHECK(m.task(TaskKey{again, 0, 1}).attempts.empty());
  CHECK(m.task(TaskKey{again, 1, 0}).output_digest == m.task(TaskKey{first, 1, 0}).output_digest);

  SECTION("another bundle is another key") {
    NewJob nj = job_of(yaml);
    nj.bundle_digest = digest_of('z');
    JobId other = m.submit(std::move(nj), clock.now()).id;
    CHECK_FALSE(m.resolve_cached(clock.now(), all_exist));
    CHECK(schedule(m, clock.now()).size() == 2);
    CHECK(m.job(other)->state == JobState::running);
  }
  SECTION("an output that is gone is forgotten and the task runs") {
    JobId third = m.submit(job_of(yaml), clock.now()).id;
    CHECK_FALSE(m.resolve_cached(clock.now(), [](const std::string&) { return false; }));
    CHECK(m.dirty().cache.size() >= 1);
    CHECK(schedule(m, clock.now()).size() == 2);
    CHECK_FALSE(m.task(TaskKey{third, 0, 0}).cached);
  }
}

TEST_CASE("rerun --failed-only keeps the outputs of clean stages only", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  JobId id = m.submit(job_of(kTwoStages), clock.now()).id;
  auto first = schedule(m, clock.now());
  finish_with_poison(m, first, 1, clock.now());
  run_all_ok(m, clock.now());
  REQUIRE(m.job(id)->state == JobState::partial);

  CHECK(m.rerun("j-999999", true, clock.now()).error().code == ErrorCode::not_found);
  auto again = m.rerun(id, true, clock.now());
  REQUIRE(again.ok());
  const Job& j = **again;
  CHECK(j.rerun_of == id);
  CHECK(j.stages[0].tasks[0].cached);
  CHECK(j.stages[0].tasks[0].output_digest == digest_of('d'));
  CHECK(j.stages[0].tasks[1].state == TaskState::pending);
  CHECK(j.stages[0].tasks[2].cached);
  // reduce saw only 2 of 3 inputs: it runs again.
  CHECK(j.stages[1].tasks[0].state == TaskState::pending);
  CHECK(schedule(m, clock.now()).size() == 1);  // just the failed map task

  auto full = m.rerun(id, false, clock.now());
  REQUIRE(full.ok());
  CHECK((*full)->stages[0].succeeded == 0);

  JobId running = m.submit(job_of(kTwoStages), clock.now()).id;
  schedule(m, clock.now());
  CHECK(m.rerun(running, true, clock.now()).error().code == ErrorCode::conflict);
}

TEST_CASE("partitioned stage tasks carry their partition and every upstream output", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  NewJob nj = job_of("name: p\nstages:\n  - name: map\n    command: [x]\n    inputs: {range: 3}\n"
                     "  - name: reduce\n    after: [map]\n    partitions: 4\n    command: [y]\n");
  nj.stage_inputs[1].clear();
  for (int r = 0; r < 4; ++r) nj.stage_inputs[1].emplace_back("partition", std::to_string(r));
  m.submit(std::move(nj), clock.now());
  run_all_ok(m, clock.now());
  auto reducers = schedule(m, clock.now());
  REQUIRE(reducers.size() == 4);
  for (AttemptId a : reducers) {
    Assignment as = m.assignment_for(*m.attempt(a));
    CHECK(as.partition == as.index);
    CHECK(as.input_kind == "partition");
    CHECK(as.upstream.size() == 3);
  }
}

TEST_CASE("group_bytes inputs reach the worker as a list", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 8), clock.now());
  NewJob nj = job_of("name: g\nstages:\n  - name: s\n    command: [x]\n");
  nj.stage_inputs[0] = {{"files", "/d/a\n/d/b\n/d/c"}};
  m.submit(std::move(nj), clock.now());
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 1);
  Assignment as = m.assignment_for(*m.attempt(a[0]));
  CHECK(as.inputs == std::vector<std::string>{"/d/a", "/d/b", "/d/c"});
  CHECK(as.input == "/d/a");
}

TEST_CASE("a deep queue costs a scheduling pass only what the free cpus can take", "[scheduler]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  JobId id = m.submit(job_of("name: deep\nstages:\n  - name: s\n    command: [x]\n"
                             "    inputs: {range: 10000}\n"),
                      clock.now()).id;
  SchedulerView view = build_view(m, clock.now(), 10'000);
  CHECK(view.candidates.size() == kMinCandidates);
  REQUIRE(view.next_not_before.has_value());  // the rest is looked at again soon
  CHECK(*view.next_not_before <= clock.now() + kSpeculationRecheck);
  CHECK(plan(view, clock.now()).assignments.size() == 4);
  // Without free cpus nothing beyond the minimum is gathered either.
  schedule(m, clock.now());
  CHECK(build_view(m, clock.now(), 10'000).candidates.size() == kMinCandidates);
  CHECK(m.job(id)->stages[0].pending.size() == 9996);
}
