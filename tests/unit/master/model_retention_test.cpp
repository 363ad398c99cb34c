// Retention in the Model: which jobs expire_jobs() deletes, what it records for
// the store, and what referenced_refs() keeps (bundles, reused outputs, logs).
#include <catch2/catch.hpp>

#include "master/model/model.hpp"
#include "tests/unit/master/model_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;
using namespace std::chrono_literals;

namespace {

constexpr Duration kWeek = std::chrono::hours(24 * 7);

std::string digest(char c, int n = 0) {
  std::string d(64, c);
  d[63] = static_cast<char>('0' + n);
  return d;
}

NewJob job_with_bundle(const std::string& yaml, char bundle) {
  NewJob nj = job_of(yaml);
  nj.bundle_digest = digest(bundle);
  return nj;
}

// 64 characters: `c` repeated, then n.
std::string numbered(char c, int n) {
  std::string tail = std::to_string(n);
  return std::string(64 - tail.size(), c) + tail;
}

// Runs every runnable attempt: each success commits output numbered('e', n)
// with n counting up, and every attempt has stdout numbered('f', n); tasks
// with index `fail_index` fail instead.
struct Runner {
  Model& m;
  int n = 0;
  void run_all(TimePoint now, std::int64_t fail_index = -1) {
    for (AttemptId id : schedule(m, now)) {
      REQUIRE(m.started(id, "w1", now).ok());
      const Attempt& a = *m.attempt(id);
      AttemptReport r = report(a.task.index == fail_index ? AttemptState::failed
                                                          : AttemptState::succeeded, 3);
      if (r.state == AttemptState::succeeded) {
        r.exit_code = 0;
        r.output_digest = numbered('e', n);
      }
      r.stdout_digest = numbered('f', n);
      ++n;
      REQUIRE(m.finished(id, "w1", r, now).ok());
    }
  }
};

const char* kOne = "name: one\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 2}\n";
const char* kPartial =
    "name: p\nmax_attempts: 1\nmax_failed_tasks: 1\nstages:\n"
    "  - name: s\n    command: [x]\n    inputs: {range: 2}\n";
const char* kCached = "name: c\nstages:\n  - name: s\n    command: [x]\n    cache: true\n";

}  // namespace

TEST_CASE("retention deletes a finished job past retention with its tasks, attempts and events",
          "[model][retention]") {
  ManualClock clock;
  Model m;
  Runner run{m};
  m.register_worker(reg("w1", 8), clock.now());
  JobId id = m.submit(job_with_bundle(kOne, 'a'), clock.now()).id;
  run.run_all(clock.now());
  REQUIRE(m.job(id)->state == JobState::succeeded);
  const TimePoint ended = m.job(id)->finished_at;
  std::vector<AttemptId> attempts;
  for (const auto& [aid, a] : m.attempts()) attempts.push_back(aid);
  REQUIRE(attempts.size() == 2);

  CHECK(m.expire_jobs(ended + kWeek - 1ms, kWeek).empty());  // not yet
  REQUIRE(m.job(id) != nullptr);
  clock.set(ended + kWeek);
  // Its rows are still dirty (never persisted here): the store must not get them.
  REQUIRE_FALSE(m.dirty().events.empty());
  auto removed = m.expire_jobs(clock.now(), kWeek);
  REQUIRE(removed == std::vector<JobId>{id});
  CHECK(m.job(id) == nullptr);
  CHECK(m.jobs().empty());
  CHECK(m.attempts().empty());
  CHECK(m.worker("w1")->active.empty());
  const Dirty& d = m.dirty();
  CHECK(d.removed_jobs == std::set<JobId>{id});
  CHECK(d.removed_attempts == std::set<AttemptId>(attempts.begin(), attempts.end()));
  CHECK(d.jobs.count(id) == 0);
  CHECK(d.attempts.empty());
  for (const TaskKey& k : d.tasks) CHECK(k.job != id);
  for (const auto& [job, e] : d.events) CHECK(job != id);  // its event log goes with it
  CHECK(m.referenced_refs().empty());
  CHECK(m.expire_jobs(clock.now() + kWeek, kWeek).empty());  // once only
}

TEST_CASE("retention never deletes a queued or running job, whatever its age", "[model][retention]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 1), clock.now());
  JobId running = m.submit(job_with_bundle(kOne, 'a'), clock.now()).id;
  auto placed = schedule(m, clock.now());
  REQUIRE(placed.size() == 1);  // one cpu: the second task waits
  REQUIRE(m.started(placed[0], "w1", clock.now()).ok());
  JobId queued = m.submit(job_with_bundle(kOne, 'b'), clock.now()).id;
  clock.advance(std::chrono::hours(24 * 365));
  CHECK(m.expire_jobs(clock.now(), kWeek).empty());
  CHECK(m.job(running)->state == JobState::running);
  CHECK(m.job(queued)->state == JobState::queued);
  auto refs = m.referenced_refs();
  CHECK(refs.count(digest('a')) == 1);
  CHECK(refs.count(digest('b')) == 1);
}

TEST_CASE("retention counts from the end, for every way a job ends", "[model][retention]") {
  ManualClock clock;
  Model m;
  Runner run{m};
  m.register_worker(reg("w1", 8), clock.now());
  JobId cancelled = m.submit(job_with_bundle(kOne, 'a'), clock.now()).id;
  JobId partial = m.submit(job_with_bundle(kPartial, 'b'), clock.now()).id;
  clock.advance(std::chrono::hours(24 * 3));  // submitted long ago, ended later
  REQUIRE(m.cancel(cancelled, clock.now()).ok());
  run.run_all(clock.now(), 1);
  REQUIRE(m.job(partial)->state == JobState::partial);
  CHECK(m.expire_jobs(clock.now() + kWeek - 1s, kWeek).empty());
  auto removed = m.expire_jobs(clock.now() + kWeek, kWeek);
  CHECK(removed == std::vector<JobId>{cancelled, partial});
}

TEST_CASE("retention keeps an output a live rerun reuses, and the bundle it shares",
          "[model][retention]") {
  ManualClock clock;
  Model m;
  Runner run{m};
  m.register_worker(reg("w1", 8), clock.now());
  JobId old = m.submit(job_with_bundle(kPartial, 'p'), clock.now()).id;
  run.run_all(clock.now(), 1);  // task 0 succeeds, task 1 fails for good
  REQUIRE(m.job(old)->state == JobState::partial);
  const std::string kept = m.task(TaskKey{old, 0, 0}).output_digest;
  REQUIRE_FALSE(kept.empty());

  clock.advance(std::chrono::hours(24 * 6));
  auto rerun = m.rerun(old, true, clock.now());
  REQUIRE(rerun.ok());
  JobId fresh = (*rerun)->id;
  REQUIRE(m.task(TaskKey{fresh, 0, 0}).output_digest == kept);  // reused, not run again
  REQUIRE(m.job(fresh)->state == JobState::queued);

  clock.advance(std::chrono::hours(24 * 2));
  REQUIRE(m.expire_jobs(clock.now(), kWeek) == std::vector<JobId>{old});
  auto refs = m.referenced_refs();
  CHECK(refs.count(kept) == 1);          // the live job's committed output
  CHECK(refs.count(digest('p')) == 1);   // the bundle both jobs name
  // The old job's own logs are not named any more.
  for (const auto& [aid, a] : m.attempts()) CHECK(a.task.job == fresh);

  // The rerun finishes; a week later it goes, and nothing is referenced any more.
  run.run_all(clock.now());
  REQUIRE(m.job(fresh)->state == JobState::succeeded);
  CHECK(m.expire_jobs(clock.now() + kWeek, kWeek) == std::vector<JobId>{fresh});
  CHECK(m.referenced_refs().empty());
}

TEST_CASE("retention keeps a cache entry while a remaining job holds its output, then drops it",
          "[model][retention]") {
  ManualClock clock;
  Model m;
  Runner run{m};
  m.register_worker(reg("w1", 8), clock.now());
  auto all_exist = [](const std::string&) { return true; };
  JobId first = m.submit(job_with_bundle(kCached, 'c'), clock.now()).id;
  CHECK_FALSE(m.resolve_cached(clock.now(), all_exist));
  run.run_all(clock.now());
  REQUIRE(m.job(first)->state == JobState::succeeded);
  REQUIRE(m.cache().size() == 1);
  const std::string out = m.task(TaskKey{first, 0, 0}).output_digest;

  clock.advance(std::chrono::hours(24 * 5));
  JobId second = m.submit(job_with_bundle(kCached, 'c'), clock.now()).id;
  REQUIRE(m.resolve_cached(clock.now(), all_exist));
  REQUIRE(m.task(TaskKey{second, 0, 0}).output_digest == out);  // reused from the cache

  clock.advance(std::chrono::hours(24 * 3));
  m.dirty() = Dirty{};
  REQUIRE(m.expire_jobs(clock.now(), kWeek) == std::vector<JobId>{first});
  CHECK(m.cache().size() == 1);  // the second job still holds that output
  CHECK(m.dirty().cache.empty());
  CHECK(m.referenced_refs().count(out) == 1);

  clock.advance(std::chrono::hours(24 * 5));
  REQUIRE(m.expire_jobs(clock.now(), kWeek) == std::vector<JobId>{second});
  CHECK(m.cache().empty());  // nobody holds it: the entry would keep a blob alive
  CHECK(m.dirty().cache.size() == 1);
  CHECK(m.referenced_refs().empty());
}
