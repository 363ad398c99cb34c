#pragma once
// The imperative shell around the Model: applies operations, persists them
// (group commit: every operation of one loop turn in one transaction), answers
// only after the commit, runs the scheduler, and delivers assignments and kills
// to workers' long polls. Runs entirely on the reactor's strand (the master's
// event loop thread); owned by the master's composition root.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/worker.hpp"
#include "master/coordinator/reactor.hpp"
#include "master/model/model.hpp"
#include "master/store/blob_store.hpp"
#include "master/store/store.hpp"

namespace drover::master {

struct CoordinatorOptions {
  Duration worker_timeout = std::chrono::seconds(10);
  Duration heartbeat_interval = std::chrono::seconds(1);
  std::size_t max_candidates_per_pass = 10'000;
};

class Coordinator {
 public:
  template <typename T>
  using Reply = std::function<void(Result<T>)>;

  Coordinator(const Clock& clock, Reactor& reactor, Store& store, BlobStore& blobs,
              CoordinatorOptions options);

  // Loads durable state and starts the liveness timer.
  Status start();
  // Called by whoever owns the strand when a persist fails; default: exit(70).
  std::function<void(const Error&)> on_fatal;

  // --- users ---
  void submit(NewJob job, Reply<JobId> reply);
  void cancel(const JobId& id, Reply<JobId> reply);

  // --- workers ---
  void register_worker(const WorkerRegistration& reg, Reply<RegistrationReply> reply);
  void heartbeat(const WorkerId& id, const Heartbeat& hb, Reply<HeartbeatReply> reply);
  // Long poll: answers as soon as work or kills are queued for the worker, or after `wait`.
  void poll_work(const WorkerId& id, Duration wait, Reply<WorkReply> reply);
  void attempt_started(AttemptId id, TimePoint started_at, Reply<Ok> reply);
  void attempt_finished(AttemptId id, const AttemptReport& report, Reply<Ok> reply);

  const Model& model() const { return model_; }
  BlobStore& blobs() { return blobs_; }
  TimePoint now() const { return clock_.now(); }

 private:
  struct Outbox {
    std::vector<Assignment> assignments;
    std::vector<AttemptId> kills;
    std::optional<Reply<WorkReply>> waiter;
    Reactor::TimerId timer = 0;
  };

  void after_commit(std::function<void()> fn);
  void flush();
  void apply(const Effects& fx);
  void request_schedule();
  void schedule_pass();
  void deliver(const WorkerId& id);
  void check_liveness();
  WorkReply take(Outbox& box);

  const Clock& clock_;
  Reactor& reactor_;
  Store& store_;
  BlobStore& blobs_;
  CoordinatorOptions options_;
  Model model_;
  std::map<WorkerId, Outbox> outboxes_;
  std::vector<std::function<void()>> after_commit_;
  bool flush_posted_ = false;
  bool schedule_posted_ = false;
  Reactor::TimerId wake_timer_ = 0;
  std::optional<TimePoint> wake_at_;
};

}  // namespace drover::master
