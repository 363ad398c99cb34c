#pragma once
// The imperative shell around the Model: applies operations, persists them
// (group commit: every operation of one loop turn in one transaction), answers
// only after the commit, runs the scheduler, and delivers assignments and kills
// to workers' long polls. Runs entirely on the reactor's strand (the master's
// event loop thread); owned by the master's composition root.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/base/clock.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/worker.hpp"
#include "master/coordinator/crash_points.hpp"
#include "master/coordinator/reactor.hpp"
#include "master/metrics/metrics.hpp"
#include "master/model/model.hpp"
#include "master/store/blob_store.hpp"
#include "master/store/store.hpp"

namespace drover::master {

struct CoordinatorOptions {
  Duration worker_timeout = std::chrono::seconds(10);
  Duration heartbeat_interval = std::chrono::seconds(1);
  Duration exclude_for = std::chrono::minutes(5);
  // A worker whose long-poll connection closed and that does not poll again within
  // this long is dead (a killed process closes its sockets at once).
  Duration reconnect_grace = std::chrono::seconds(1);
  std::size_t max_candidates_per_pass = 10'000;
  // output_store: shared:/path — the shared root (outputs are directories there,
  // committed by rename); empty for output_store: master (outputs are blobs).
  std::filesystem::path shared_root;
  // Retention (SPEC §1 `retention`): finished jobs are deleted this long after
  // they ended; 0 keeps everything forever (and collects no garbage).
  Duration retention = std::chrono::hours(24 * 7);
  Duration retention_interval = std::chrono::minutes(1);  // how often jobs are looked at
  // Blobs and shared output directories modified less than this long ago are
  // never collected: uploads in flight are on disk before any job names them.
  Duration blob_grace = std::chrono::hours(1);
  // Garbage is collected after every pass that deleted jobs, and at least this
  // often (leftovers of crashes, uploads never used).
  Duration gc_interval = std::chrono::hours(1);
  // Group commit's patience: changes whose waiters lose nothing by waiting a
  // little (reports of tasks that already freed their cpus, tasks for busy
  // workers' queues) are committed up to this long after they were made,
  // together with what comes meanwhile. Anything else waiting (a client's
  // reply, a task for an idle cpu, a kill) commits at once, and these with
  // it. 0: everything commits at once.
  Duration commit_patience = std::chrono::milliseconds(2);
};

class Coordinator {
 public:
  template <typename T>
  using Reply = std::function<void(Result<T>)>;

  // `crash` is inert unless DROVER_CRASH_AT is set (fault-injection tests).
  Coordinator(const Clock& clock, Reactor& reactor, Store& store, BlobStore& blobs,
              CoordinatorOptions options, CrashPoints crash = {});

  // Waits for a commit still running off the strand (it uses the store).
  ~Coordinator() { reactor_.wait_idle(); }

  // Loads durable state and starts the liveness timer.
  Status start();

  // --- users ---
  void submit(NewJob job, Reply<JobId> reply);
  void cancel(const JobId& id, Reply<JobId> reply);
  void rerun(const JobId& id, bool failed_only, Reply<JobId> reply);

  // --- workers ---
  void register_worker(const WorkerRegistration& reg, Reply<RegistrationReply> reply);
  void heartbeat(const WorkerId& id, const Heartbeat& hb, Reply<HeartbeatReply> reply);
  // Long poll: answers as soon as work or kills are queued for the worker, or after `wait`.
  // Returns the poll's number, for poll_disconnected().
  std::uint64_t poll_work(const WorkerId& id, Duration wait, Reply<WorkReply> reply);
  void attempt_started(AttemptId id, TimePoint started_at, Reply<Ok> reply);
  void attempt_finished(AttemptId id, const AttemptReport& report, Reply<Ok> reply);
  void attempt_checkpoint(AttemptId id, const std::string& digest, Reply<Ok> reply);
  // The connection of the worker's long poll number `poll` closed before its answer.
  void poll_disconnected(const WorkerId& id, std::uint64_t poll);
  // Drain (user) and leave (a worker shutting down).
  void drain(const WorkerId& id, Reply<WorkerId> reply);
  void leave(const WorkerId& id, Reply<Ok> reply);

  // Retention: deletes the finished jobs past options.retention (one commit),
  // then, once that is durable, collects the blobs and shared outputs nothing
  // names any more (off the strand). Runs every retention_interval.
  void retention_pass();
  // The garbage collection's last result, once one finished.
  const std::optional<GarbageReport>& last_garbage() const { return last_garbage_; }

  const Model& model() const { return model_; }
  MasterMetrics& metrics() { return metrics_; }
  BlobStore& blobs() { return blobs_; }
  // A job's committed events after `after` (reads the store, not the model).
  Result<std::vector<JobEvent>> events(const JobId& job, std::int64_t after, int limit) {
    return store_.events(job, after, limit);
  }
  const std::filesystem::path& shared_root() const { return options_.shared_root; }
  // Whether a committed output (blob digest or shared: ref) is still there.
  bool output_exists(const std::string& ref) const;
  TimePoint now() const { return clock_.now(); }

 private:
  struct Outbox {
    std::vector<Assignment> assignments;
    std::vector<AttemptId> kills;
    std::optional<Reply<WorkReply>> waiter;
    Reactor::TimerId timer = 0;
    bool drain_notice = false;     // tell the worker to drain on its next reply
    std::uint64_t polls = 0;  // numbers the long polls
  };

  // Whether what waits for a commit may wait options_.commit_patience for it.
  enum class Urgency { now, patient };
  // `fn` runs once the next snapshot is durable, after what was queued before it.
  void after_commit(std::function<void()> fn, Urgency urgency = Urgency::now);
  // The same for what is sent to workers (assignments, kills), which runs
  // before the replies to clients that wait for that commit: a worker woken
  // first starts its task while the client (a submitter, say, that asks at
  // once how its job is doing) is still being answered. Measured on part b
  // of tests/bench/perf.py: the hand-off to the worker took 0.55 ms when it
  // queued behind the submit's reply, 0.12 ms ahead of it.
  void dispatch_after_commit(std::function<void()> fn, Urgency urgency = Urgency::now);
  void post_flush();
  void flush();
  // Whether the changes made so far are committed now, or wait for the
  // patience timer (which this starts) or for something urgent.
  bool commit_now();
  void end_patience();
  void write_done(const Status& status);
  void apply(const Effects& fx);
  void request_schedule();
  void schedule_pass();
  void deliver(const WorkerId& id);
  void check_liveness();
  void retention_tick();
  void collect_garbage();
  WorkReply take(const WorkerId& id, Outbox& box);
  // Upstream outputs of `key` missing from the blob store (lineage).
  std::vector<TaskKey> missing_upstream(const TaskKey& key) const;
  std::vector<UpstreamOutput> really_missing(const std::vector<UpstreamOutput>& reported) const;
  // Shared output_store: moves the attempt's directory to its committed place.
  // Returns the committed ref, or why the output cannot be committed.
  Result<std::string> commit_shared(const Attempt& a, const AttemptReport& report);

  const Clock& clock_;
  Reactor& reactor_;
  Store& store_;
  BlobStore& blobs_;
  CoordinatorOptions options_;
  CrashPoints crash_;
  Model model_;
  MasterMetrics metrics_;
  std::unordered_map<WorkerId, Outbox> outboxes_;  // looked up on every poll
  // Kills queued in all outboxes: a heartbeat takes its worker's, and with
  // none queued anywhere (nearly always) it skips the lookup, a cache miss or
  // two with 10,000 workers.
  std::size_t kills_queued_ = 0;
  // Workers loaded from the store at start that have not registered or polled with
  // this master yet: no work goes to them until they do, since a registration
  // loses every active attempt it does not list (one assigned meanwhile would be
  // lost in vain).
  std::set<WorkerId> rejoining_;
  std::vector<std::function<void()>> after_commit_;  // wait for the next snapshot's commit
  std::size_t dispatches_waiting_ = 0;  // at the front of after_commit_
  std::size_t urgent_waiting_ = 0;      // in after_commit_
  Reactor::TimerId patience_timer_ = 0;
  bool patience_over_ = false;
  // The snapshot being written (or to retry) and what waits for it.
  std::shared_ptr<Snapshot> pending_;
  std::vector<std::function<void()>> pending_replies_;
  bool writing_ = false;
  bool flush_posted_ = false;
  Reactor::TimerId flush_retry_ = 0;
  bool schedule_posted_ = false;
  Reactor::TimerId wake_timer_ = 0;
  std::optional<TimePoint> wake_at_;
  bool gc_running_ = false;
  TimePoint last_gc_{};  // when the last collection started; {} before the first
  std::optional<GarbageReport> last_garbage_;
};

}  // namespace drover::master
