#pragma once
// The scheduler proposes; the coordinator disposes. plan() is a pure function
// of a view of the cluster and `now`: it never touches the Model, I/O or a clock.
//
// Policy: candidates are taken in order (job priority desc, submit order, stage
// order, task index). Each goes to the worker with the most free cpus that fits
// its cpus and memory, preferring workers where the task has not failed before.
// A candidate that fits nowhere is skipped so smaller tasks behind it can use
// the space (backfill). max_running caps a job's (and a stage's) active
// attempts. Speculation (SPEC §2): once a stage has at most 10% of its tasks
// (or one task) left and none of them waits to start, a task running longer than 1.5x the
// stage's median run time (and at least 1s longer) gets one copy on another
// worker; those copies come after every normal candidate.
//
// Queued work (worker saturation, as Dask's): a task of a stage whose
// finished attempts ran kQueueMaxMeanRunMs or less on average (over at least
// kQueueMinRuns) that fits on no worker's free cpus may still be assigned to a
// busy worker, up to kQueuePerCpu queued cpus per cpu of it. The worker starts
// it the moment a slot frees there, without waiting for a round trip to the
// master. Free cpus are always filled first, and a queued task waits at most
// about kQueuePerCpu mean run times, so no task waits long on a busy worker
// while another is idle. Six, not fewer: the master learns that a queued
// task started only from the report of the one before, which waits in the
// worker for the report in flight before it, then for its group commit
// (coordinator.hpp, commit_patience). With 2 per cpu the workers of
// tests/bench/perf.py part a ran dry meanwhile; with 4 their cpus were still
// idle an eighth of the time (6: a twelfth, and 5-10% more tasks/s).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/clock.hpp"
#include "master/model/model.hpp"

namespace drover::master {

struct Candidate {
  TaskKey key;
  double cpus = 1;
  std::uint64_t memory = 0;
  std::vector<WorkerId> avoid;  // workers where an earlier attempt failed
  // Speculative copy of a running straggler: never placed on `avoid` workers
  // (they run the first copy).
  bool speculative = false;
  // Its stage's tasks are short (see above): it may wait in a worker's queue.
  bool queueable = false;
};

struct WorkerSlot {
  WorkerId id;
  double free_cpus = 0;  // negative while attempts are queued there
  std::uint64_t free_memory = 0;
  double queue_cpus = 0;      // room for queued attempts (cpus)
  std::uint64_t memory = 0;   // the worker's whole memory (0 = not stated)
};

struct SchedulerView {
  std::vector<Candidate> candidates;  // runnable now, in scheduling order
  std::vector<WorkerSlot> workers;    // alive workers accepting work
  std::optional<TimePoint> next_not_before;  // earliest backoff still in the future
};

struct Plan {
  std::vector<std::pair<TaskKey, WorkerId>> assignments;
  // The last `queued` assignments go to busy workers' queues: none of them
  // starts at once.
  std::size_t queued = 0;
  std::optional<TimePoint> wake_at;  // call plan() again then, even if nothing else happens
};

Plan plan(const SchedulerView& view, TimePoint now);

// Builds the view from the model: at most `max_candidates` runnable tasks.
SchedulerView build_view(const Model& model, TimePoint now, std::size_t max_candidates);

// A pass collects at least this many candidates, then stops once their cpus
// exceed twice the free cpus (or at max_candidates); it runs again within
// kSpeculationRecheck when it stopped early.
inline constexpr std::size_t kMinCandidates = 64;

// Speculation thresholds (see above).
inline constexpr double kSpeculationMultiplier = 1.5;
inline constexpr Duration kSpeculationMinExtra = std::chrono::seconds(1);
inline constexpr Duration kSpeculationRecheck = std::chrono::seconds(1);

// Queued work thresholds (see above).
inline constexpr double kQueuePerCpu = 6;
inline constexpr std::size_t kQueueMinRuns = 3;
inline constexpr std::int64_t kQueueMaxMeanRunMs = 200;

// Whether a stage's tasks may be queued on busy workers.
bool short_tasks(const Stage& stage);

}  // namespace drover::master
