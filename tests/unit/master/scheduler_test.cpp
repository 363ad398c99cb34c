// The scheduler as tables: a small cluster, a list of candidates, the expected placement.
#include <catch2/catch.hpp>

#include "master/model/model.hpp"
#include "master/scheduler/scheduler.hpp"

using namespace drover;
using namespace drover::master;

namespace {

Candidate cand(std::int64_t index, double cpus = 1, std::uint64_t memory = 0,
               std::vector<WorkerId> avoid = {}) {
  return Candidate{TaskKey{"j-1", 0, index}, cpus, memory, std::move(avoid)};
}

// A candidate of a stage whose tasks are known to be short.
Candidate queueable(std::int64_t index, double cpus = 1, std::uint64_t memory = 0) {
  Candidate c = cand(index, cpus, memory);
  c.queueable = true;
  return c;
}

// "index@worker", and " queued" for a place in a busy worker's queue.
std::vector<std::string> placements(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& [key, w] : p.assignments) {
    const bool queued = out.size() >= p.assignments.size() - p.queued;
    out.push_back(std::to_string(key.index) + "@" + w + (queued ? " queued" : ""));
  }
  return out;
}

// One table row: a cluster, candidates in order, the expected "index@worker"s.
struct Case {
  const char* name;
  std::vector<WorkerSlot> workers;  // id, free cpus, free memory, queue room, memory
  std::vector<Candidate> candidates;
  std::vector<std::string> expected;
};

void check_cases(const std::vector<Case>& cases) {
  ManualClock clock;
  for (const Case& c : cases) {
    INFO(c.name);
    SchedulerView view{c.candidates, c.workers, std::nullopt};
    CHECK(placements(plan(view, clock.now())) == c.expected);
  }
}

}  // namespace

TEST_CASE("plan places tasks by order onto the freest fitting worker", "[scheduler]") {
  const std::vector<Case> cases = {
      {"no workers", {}, {cand(0)}, {}},
      {"no candidates", {{"a", 2, 0}}, {}, {}},
      {"fills one worker", {{"a", 2, 0}}, {cand(0), cand(1), cand(2)}, {"0@a", "1@a"}},
      {"spreads over the freest", {{"a", 2, 0}, {"b", 3, 0}},
       {cand(0), cand(1), cand(2)}, {"0@b", "1@a", "2@b"}},
      {"ties go to the first id", {{"b", 1, 0}, {"a", 1, 0}}, {cand(0)}, {"0@a"}},
      {"big task skipped, small one backfills", {{"a", 1, 0}},
       {cand(0, 2), cand(1, 1)}, {"1@a"}},
      {"memory must fit", {{"a", 4, 100}, {"b", 2, 1000}},
       {cand(0, 1, 500)}, {"0@b"}},
      {"memory 0 is unchecked", {{"a", 1, 0}}, {cand(0, 1, 0)}, {"0@a"}},
      {"avoids a worker where it failed", {{"a", 4, 0}, {"b", 1, 0}},
       {cand(0, 1, 0, {"a"})}, {"0@b"}},
      {"uses the avoided worker when nothing else fits", {{"a", 4, 0}, {"b", 0, 0}},
       {cand(0, 1, 0, {"a"})}, {"0@a"}},
      {"fractional cpus", {{"a", 1, 0}}, {cand(0, 0.5), cand(1, 0.5), cand(2, 0.5)},
       {"0@a", "1@a"}},
  };
  check_cases(cases);
}

TEST_CASE("plan never uses more cpus than a worker has", "[scheduler][property]") {
  std::uint64_t seed = Catch::rngSeed();
  INFO("seed " << seed);
  std::srand(static_cast<unsigned>(seed));
  for (int round = 0; round < 200; ++round) {
    SchedulerView view;
    int nw = std::rand() % 5;
    for (int w = 0; w < nw; ++w) {
      view.workers.push_back({"w" + std::to_string(w), static_cast<double>(std::rand() % 5),
                              static_cast<std::uint64_t>(std::rand() % 3) * 100});
    }
    int nc = std::rand() % 20;
    for (int i = 0; i < nc; ++i) {
      view.candidates.push_back(cand(i, 0.5 * (1 + std::rand() % 4),
                                     static_cast<std::uint64_t>(std::rand() % 3) * 50));
    }
    Plan p = plan(view, ManualClock().now());
    std::map<WorkerId, double> used;
    std::map<WorkerId, std::uint64_t> mem;
    std::set<std::int64_t> placed;
    for (const auto& [key, w] : p.assignments) {
      CHECK(placed.insert(key.index).second);  // a task at most once
      used[w] += view.candidates[key.index].cpus;
      mem[w] += view.candidates[key.index].memory;
    }
    for (const WorkerSlot& w : view.workers) {
      CHECK(used[w.id] <= w.free_cpus + 1e-9);
      if (mem[w.id] > 0) CHECK(mem[w.id] <= w.free_memory);
    }
  }
}

TEST_CASE("plan passes on the earliest backoff as its wake-up", "[scheduler]") {
  ManualClock clock;
  SchedulerView view;
  view.next_not_before = clock.now() + std::chrono::seconds(3);
  CHECK(plan(view, clock.now()).wake_at == view.next_not_before);
}

TEST_CASE("short tasks that fit no free cpus wait in the queues of busy workers", "[scheduler]") {
  const std::vector<Case> cases = {
      {"free cpus first, then the queue with the most room", {{"a", 0, 0, 2, 0}, {"b", 1, 0, 2, 0}},
       {queueable(0), queueable(1), queueable(2), queueable(3), queueable(4), queueable(5)},
       {"0@b", "1@a queued", "2@b queued", "3@a queued", "4@b queued"}},
      {"tasks not known to be short are never queued", {{"a", 0, 0, 2, 0}, {"b", 1, 0, 2, 0}},
       {cand(0), cand(1), cand(2)}, {"0@b"}},
      {"a full queue takes nothing", {{"a", -2, 0, 0, 0}}, {queueable(0)}, {}},
      {"a queued task must fit the worker's whole memory", {{"a", 0, 0, 2, 100}},
       {queueable(0, 1, 500)}, {}},
      {"memory within the whole worker", {{"a", 0, 0, 2, 1000}}, {queueable(0, 1, 500)},
       {"0@a queued"}},
      {"a later small task takes the free cpu, the big one queues", {{"a", 1, 0, 2, 0}},
       {queueable(0, 2), queueable(1, 1)}, {"1@a", "0@a queued"}},
  };
  check_cases(cases);
}

TEST_CASE("a stage's tasks count as short after enough quick runs", "[scheduler]") {
  auto stage = [](std::vector<std::int64_t> runs) {
    Stage s;
    for (auto ms : runs) {
      s.run_ms.push_back(ms);
      s.run_ms_sum += ms;
    }
    return s;
  };
  CHECK_FALSE(short_tasks(stage({})));
  CHECK_FALSE(short_tasks(stage({1, 1})));              // too few runs to tell
  CHECK(short_tasks(stage({1, 2, 3})));
  CHECK(short_tasks(stage({200, 200, 200})));
  CHECK_FALSE(short_tasks(stage({100, 300, 300})));     // mean above kQueueMaxMeanRunMs
  CHECK_FALSE(short_tasks(stage({5, 5, 5, 5, 60000}))); // one long run is enough to stop it
}
