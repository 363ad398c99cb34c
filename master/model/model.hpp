#pragma once
// The master's state: jobs, their stages and tasks, attempts, workers. Pure:
// every operation takes `now` as a value and touches no I/O. The coordinator
// owns the one Model and calls it from its strand only; after each batch of
// operations it persists the rows named in dirty() in one transaction.
//
// Task lifecycle (a task's state is its latest attempt's, pending with none):
//   pending --assign--> assigned --started--> running --finished(ok)--> succeeded
//      ^                    |                    |--finished(fail)--> failed --(retries left)--+
//      |                    +---- worker dead ---+--> lost ----------------------------------- +
//      +-------------------------- new pending attempt, after backoff ------------------------+
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "common/base/result.hpp"
#include "common/jobspec/job_spec.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/event.hpp"
#include "common/proto/job.hpp"
#include "common/proto/states.hpp"
#include "common/proto/task.hpp"
#include "common/proto/worker.hpp"

namespace drover::master {

using JobId = std::string;
using WorkerId = std::string;
using AttemptId = std::int64_t;

// A lost attempt is not the task's fault, but a task lost this often fails.
inline constexpr int kMaxLostAttempts = 10;

struct TaskKey {
  JobId job;
  int stage = 0;  // index into the job's spec.stages
  std::int64_t index = 0;
  auto operator<=>(const TaskKey&) const = default;
};

struct Attempt {
  AttemptId id = 0;
  TaskKey task;
  int number = 1;
  WorkerId worker;
  AttemptState state = AttemptState::pending;
  TimePoint not_before{};  // pending only: earliest assignment (retry backoff)
  TimePoint assigned_at{}, started_at{}, finished_at{};
  int exit_code = -1;
  int signal = 0;
  std::string reason, message;
  std::string output_digest;
  std::uint64_t output_bytes = 0;
  std::string stdout_digest, stderr_digest;
  double progress = -1;
  std::int64_t cpu_ms = 0;
};

struct Task {
  std::int64_t index = 0;
  std::string input_kind;  // none | file | item | index
  std::string input;
  std::vector<AttemptId> attempts;  // oldest first
  int failures = 0;                 // failed attempts (count against max_attempts)
  int lost = 0;
  std::string output_digest;  // committed output
  std::uint64_t output_bytes = 0;
  std::string checkpoint_digest;  // newest saved checkpoint, restored into the next attempt
  bool gave_up = false;           // failed for good; the job goes on (max_failed_tasks)
  bool cached = false;            // its output was reused (cache or rerun), no attempt ran
  std::string cache_base;         // stage.cache: digest of bundle, command, env and input
  TaskState state = TaskState::pending;  // derived from the fields above and the attempts
};

struct Stage {
  std::vector<Task> tasks;
  // Derived, rebuilt on load:
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;           // tasks that gave up
  std::set<std::int64_t> pending;    // indices of tasks in state pending (runnable or backing off)
  std::set<std::int64_t> active;     // indices of tasks assigned or running (progress, speculation)
  std::set<std::int64_t> troubled;   // indices of tasks with a failed or lost attempt (views)
  std::map<TaskState, std::int64_t> counts;  // tasks by state
  std::vector<std::int64_t> run_ms;  // run times of committed attempts (speculation, ETA)
  std::int64_t run_ms_sum = 0;
  std::int64_t cpu_ms = 0;           // cpu time of its attempts that ended (accounting)
  TimePoint started_at{};            // its first attempt's start
  bool cache_checked = false;        // stage.cache: pending tasks were looked up once ready
  TimePoint done_at{};               // when its last task ended (in memory; unknown after a restart)
  bool done() const { return succeeded + failed == static_cast<std::int64_t>(tasks.size()); }
};

struct Job {
  JobId id;
  std::int64_t seq = 0;  // submit order
  JobSpec spec;
  JobState state = JobState::queued;
  std::string bundle_digest;
  std::string user, source;
  TimePoint submitted_at{}, started_at{}, finished_at{};
  std::string message;
  std::string rerun_of;       // the job this one reran
  std::vector<Stage> stages;  // parallel to spec.stages
  std::int64_t failed_tasks() const;
};

struct Worker {
  WorkerId id;
  std::string address;
  // What its log server asks of the master (registration, heartbeats). Not
  // stored: a restarted master learns it again from the next heartbeat.
  std::string log_token;
  double cpus = 0;
  std::uint64_t memory = 0;
  std::map<std::string, std::string> labels;
  WorkerState state = WorkerState::alive;
  TimePoint registered_at{}, last_heartbeat_at{};
  std::set<AttemptId> active;  // assigned or running here
  double cpus_used = 0;
  std::uint64_t memory_used = 0;
  int failures_in_a_row = 0;    // attempts that failed here since the last success
  TimePoint excluded_until{};   // state excluded until then
};

// The cpus a worker's attempts take, at most its own: attempts queued beyond
// them (master/scheduler) wait for a slot and are not shown as using one.
inline double slots_used(const Worker& w) { return std::min(w.cpus_used, w.cpus); }

// Workers on which this many attempts failed in a row are excluded for a while.
inline constexpr int kExcludeAfterFailures = 3;

// What a submitted bundle resolves to (inputs already expanded).
struct NewJob {
  JobSpec spec;
  std::string bundle_digest;
  std::string user, source;
  std::vector<std::vector<std::pair<std::string, std::string>>> stage_inputs;  // (kind, input) per task
  std::map<std::string, std::string> file_meta;  // absolute input file -> "size:mtime_ns" (cache keys)
};

// A committed output kept for `cache: true` stages, by cache key.
struct CachedOutput {
  std::string ref;  // blob digest or shared: ref (common/proto/output_ref.hpp)
  std::uint64_t bytes = 0;
};

// Whether a committed output still exists (blob present, shared directory present).
using OutputExists = std::function<bool(const std::string& ref)>;

// Rows changed since the last persist.
struct Dirty {
  std::set<JobId> jobs;
  std::set<TaskKey> tasks;
  std::set<AttemptId> attempts;
  std::set<WorkerId> workers;
  std::set<std::string> cache;  // cache keys added (present in the model) or removed (absent)
  std::vector<std::pair<JobId, JobEvent>> events;  // appended to the job's event log, in order
  bool counters = false;
  // Retention: jobs deleted with their tasks and events, and their attempts.
  std::set<JobId> removed_jobs;
  std::set<AttemptId> removed_attempts;
  bool empty() const {
    return jobs.empty() && tasks.empty() && attempts.empty() && workers.empty() && cache.empty() &&
           events.empty() && !counters && removed_jobs.empty() && removed_attempts.empty();
  }
};

// Side effects an operation asks the coordinator to carry out.
struct Effects {
  std::vector<std::pair<WorkerId, AttemptId>> kill;  // tell the worker to kill it
  bool reschedule = false;                           // capacity or runnable tasks changed
};

class Model {
 public:
  explicit Model(Duration exclude_for = std::chrono::minutes(5)) : exclude_for_(exclude_for) {}

  // --- jobs ---
  const Job& submit(NewJob job, TimePoint now);
  Result<Effects> cancel(const JobId& id, TimePoint now);
  // `drover rerun`: the same bundle and inputs as a new job. With failed_only
  // (the job must have ended) tasks keep their committed outputs when they and
  // every stage upstream of theirs succeeded entirely.
  Result<const Job*> rerun(const JobId& id, bool failed_only, TimePoint now);
  // cache: true stages that became ready: tasks whose cache key has an output
  // that still exists succeed at once (cached). Returns whether any did.
  bool resolve_cached(TimePoint now, const OutputExists& exists);

  // --- attempts ---
  // Creates or reuses the task's pending attempt and places it on `worker`.
  // A task with an attempt already running gets a second, speculative one.
  const Attempt& assign(const TaskKey& key, const WorkerId& worker, TimePoint now);
  // Reports from a worker; conflict when the attempt is not active on that worker (fenced).
  Status started(AttemptId id, const WorkerId& worker, TimePoint started_at);
  Result<Effects> finished(AttemptId id, const WorkerId& worker, const AttemptReport& report,
                           TimePoint now);
  // A checkpoint the attempt saved; conflict when the attempt is no longer active.
  Status checkpoint(AttemptId id, const std::string& digest);
  // Lineage: a committed output is gone. Its task runs again (when its job is not over),
  // and stages after it wait for it. Returns whether anything changed.
  bool invalidate_output(const TaskKey& key, TimePoint now);

  // --- workers ---
  // (Re)registration; attempts active on it that it does not report become lost,
  // reported ones it should not run are returned as kills.
  Effects register_worker(const WorkerRegistration& reg, TimePoint now);
  // Heartbeat; nullopt when the worker is unknown or dead (it must re-register).
  std::optional<Effects> heartbeat(const WorkerId& id, const Heartbeat& hb, TimePoint now,
                                   Duration assign_grace);
  // Marks workers silent for longer than `timeout` dead (their attempts become lost)
  // and ends exclusions that are over.
  Effects expire_workers(TimePoint now, Duration timeout);
  // The worker is gone (connection closed, or it left): dead now, attempts lost.
  Effects mark_dead(const WorkerId& id, const std::string& why, TimePoint now);
  // Drain: no new assignments; not_found for an unknown or dead worker.
  Status drain(const WorkerId& id);
  // After a restart: every worker gets a full timeout to re-register.
  void restart_liveness(TimePoint now);

  // --- retention (model_retention.cpp) ---
  // Deletes the jobs that ended at least `retention` before `now` (never one
  // still queued or running), with their tasks, attempts and events, and the
  // cache entries naming an output no remaining job holds. Returns their ids.
  std::vector<JobId> expire_jobs(TimePoint now, Duration retention);
  // Every blob digest and shared: ref the remaining jobs still name: bundles,
  // committed outputs (their own or reused), checkpoints, attempts' outputs and
  // logs, cache entries. Nothing in it may be deleted.
  std::set<std::string> referenced_refs() const;

  // --- reading ---
  const Job* job(const JobId& id) const;
  const Attempt* attempt(AttemptId id) const;
  const Worker* worker(const WorkerId& id) const;
  const std::map<JobId, Job>& jobs() const { return jobs_; }
  const std::map<WorkerId, Worker>& workers() const { return workers_; }
  const std::map<AttemptId, Attempt>& attempts() const { return attempts_; }
  const Task& task(const TaskKey& key) const;
  Assignment assignment_for(const Attempt& attempt) const;
  // When the attempt's task became runnable (submit, upstream done, backoff end);
  // TimePoint{} when unknown (upstream finished before a restart).
  TimePoint runnable_since(const Attempt& attempt) const;

  // Jobs not yet finished, in scheduling order (priority desc, then submit order).
  std::vector<const Job*> unfinished_jobs() const;
  // Whether every upstream stage of stage `s` is done (its tasks succeeded or gave up).
  bool stage_ready(const Job& job, int s) const;
  // The cache key of a task of a `cache: true` stage whose upstream is done.
  std::string cache_key(const Job& job, int stage, const Task& task) const;
  const std::map<std::string, CachedOutput>& cache() const { return cache_; }
  // Active (assigned or running) attempts of a task, oldest first.
  std::vector<const Attempt*> active_attempts(const Task& task) const;

  // --- persistence ---
  Dirty& dirty() { return dirty_; }
  std::int64_t next_attempt_id() const { return next_attempt_id_; }
  std::int64_t next_job_seq() const { return next_job_seq_; }
  // Loading: rows are inserted as stored, then rebuild() derives counters.
  void load_counters(std::int64_t next_attempt_id, std::int64_t next_job_seq);
  Job& load_job(Job job);
  void load_task(const JobId& job, int stage, Task task);  // ignored if the job is unknown
  // Room for `count` tasks in a stage about to be loaded (no effect on an unknown job or stage).
  void reserve_tasks(const JobId& job, int stage, std::size_t count);
  void load_attempt(Attempt attempt);
  void load_worker(Worker worker);
  void load_cache(std::string key, CachedOutput out);
  void rebuild();

 private:
  Task& task_mut(const TaskKey& key);
  void note_start(const Attempt& a);  // accounting: the stage's first start
  // Derives task.state (and the stage's pending set) from its fields and attempts.
  void refresh(const TaskKey& key);
  // The state refresh() gives a task, and whether it belongs in its stage's troubled set.
  TaskState derived_state(const Task& task) const;
  bool troubled(const Task& task) const;
  bool has_other_active(const Task& task, AttemptId except) const;
  void give_up(Job& job, Task& task, const TaskKey& key, std::string why, TimePoint now,
               Effects& fx);
  void maybe_finish(Job& job, TimePoint now, Effects& fx);
  void commit_output(Job& job, const TaskKey& key, const std::string& ref, std::uint64_t bytes,
                     bool cached);
  Attempt& new_attempt(const TaskKey& key, TimePoint now);
  void end_attempt(Attempt& a, AttemptState state, TimePoint now);
  void release(Attempt& a);
  void after_failure(Job& job, Task& task, Attempt& a, TimePoint now, Effects& fx);
  void task_succeeded(Job& job, Task& task, const Attempt& a, TimePoint now, Effects& fx);
  void finish_job(Job& job, JobState state, std::string message, TimePoint now, Effects& fx);
  void lose(Attempt& a, std::string message, TimePoint now, Effects& fx);
  void mark(const TaskKey& key) { dirty_.tasks.insert(key); }
  void count_on_worker(Worker& w, bool failed, TimePoint now);
  // The job's event log (persisted with the next snapshot).
  void record(const JobId& job, JobEvent event, TimePoint at);
  void record(const Attempt& a, std::string type, TimePoint at, std::string message = {});
  void record_cached(const Job& job, int stage, std::int64_t tasks, const std::string& what,
                     TimePoint now);
  void lose_all(Worker& w, const std::string& why, TimePoint now, Effects& fx);

  Duration exclude_for_;
  std::map<JobId, Job> jobs_;
  std::map<AttemptId, Attempt> attempts_;
  std::map<WorkerId, Worker> workers_;
  std::map<std::string, CachedOutput> cache_;
  std::int64_t next_attempt_id_ = 1;
  std::int64_t next_job_seq_ = 1;
  Dirty dirty_;
  Job* loading_ = nullptr;  // load_task(): the job of the previous row (reset by load_job, rebuild)
};

}  // namespace drover::master
