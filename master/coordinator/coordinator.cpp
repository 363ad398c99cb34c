#include "master/coordinator/coordinator.hpp"

#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
#include "master/scheduler/scheduler.hpp"

namespace drover::master {

Coordinator::Coordinator(const Clock& clock, Reactor& reactor, Store& store, BlobStore& blobs,
                         CoordinatorOptions options, CrashPoints crash)
    : clock_(clock),
      reactor_(reactor),
      store_(store),
      blobs_(blobs),
      options_(options),
      crash_(crash),
      model_(options.exclude_for) {}

Status Coordinator::start() {
  // Workers report a task that wrote nothing with this blob without uploading it.
  if (const std::string& empty = empty_archive(); !blobs_.has(sha256_hex(empty))) {
    DROVER_TRY(blobs_.put(sha256_hex(empty), empty));
  }
  DROVER_TRY(store_.load(model_));
  model_.restart_liveness(clock_.now());
  for (const auto& [id, w] : model_.workers()) {
    if (w.state != WorkerState::dead) rejoining_.insert(id);
  }
  spdlog::info("loaded {} jobs, {} workers", model_.jobs().size(), model_.workers().size());
  check_liveness();
  request_schedule();
  if (options_.retention > Duration{0}) {
    reactor_.call_after(options_.retention_interval, [this] { retention_tick(); });
  }
  return ok_status();
}

// ------------------------------------------------------------ durability

namespace {
// So many patient waiters commit without waiting longer.
constexpr std::size_t kMaxPatientWaiters = 1024;
}  // namespace

void Coordinator::after_commit(std::function<void()> fn, Urgency urgency) {
  after_commit_.push_back(std::move(fn));
  if (urgency == Urgency::now) ++urgent_waiting_;
  post_flush();
}

void Coordinator::dispatch_after_commit(std::function<void()> fn, Urgency urgency) {
  after_commit_.insert(after_commit_.begin() + dispatches_waiting_, std::move(fn));
  ++dispatches_waiting_;
  if (urgency == Urgency::now) ++urgent_waiting_;
  post_flush();
}

bool Coordinator::commit_now() {
  if (urgent_waiting_ > 0 || patience_over_ || after_commit_.empty() ||
      after_commit_.size() >= kMaxPatientWaiters || options_.commit_patience <= Duration{0}) {
    return true;
  }
  if (!patience_timer_) {
    patience_timer_ = reactor_.call_after(options_.commit_patience, [this] {
      patience_timer_ = 0;
      patience_over_ = true;
      flush();
    });
  }
  return false;
}

// What waited is being committed (or answered): the next change waits anew.
void Coordinator::end_patience() {
  if (patience_timer_) reactor_.cancel(patience_timer_);
  patience_timer_ = 0;
  patience_over_ = false;
  urgent_waiting_ = 0;
  dispatches_waiting_ = 0;
}

void Coordinator::post_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  reactor_.post([this] { flush(); });
}

void Coordinator::flush() {
  flush_posted_ = false;
  if (writing_) return;  // write_done() flushes what gathered meanwhile
  if (model_.dirty().empty() && !pending_) {
    auto ready = std::move(after_commit_);
    after_commit_.clear();
    end_patience();
    for (auto& fn : ready) fn();
    return;
  }
  if (!pending_) {
    if (!commit_now()) return;
    pending_ = std::make_shared<Snapshot>(take_snapshot(model_, model_.dirty()));
    model_.dirty() = Dirty{};
    pending_replies_ = std::move(after_commit_);
    after_commit_.clear();
    end_patience();
  }
  // The transaction runs off the strand; reads and new operations go on meanwhile.
  writing_ = true;
  auto status = std::make_shared<Status>(ok_status());
  const auto handed = clock_.steady_now();
  reactor_.run_blocking([this, snap = pending_, status] { *status = store_.write(*snap); },
                        [this, status, handed] {
                          metrics_.commit_seconds.observe(std::chrono::duration<double>(
                              clock_.steady_now() - handed).count());
                          write_done(*status);
                        });
}

void Coordinator::write_done(const Status& s) {
  writing_ = false;
  if (!s.ok()) {
    // Nothing waiting on this commit is answered until it succeeds (e.g. the disk
    // has room again); reads keep being served meanwhile.
    spdlog::error("cannot persist state (retrying in 1s; replies wait): {}", s.error().describe());
    if (!flush_retry_) {
      flush_retry_ = reactor_.call_after(std::chrono::seconds(1), [this] {
        flush_retry_ = 0;
        flush();
      });
    }
    return;
  }
  pending_.reset();
  auto ready = std::move(pending_replies_);
  pending_replies_.clear();
  for (auto& fn : ready) fn();
  if (!model_.dirty().empty() || !after_commit_.empty()) flush();
}

void Coordinator::apply(const Effects& fx) {
  if (!fx.kill.empty()) {
    dispatch_after_commit([this, kills = fx.kill] {
      for (const auto& [worker, attempt] : kills) outboxes_[worker].kills.push_back(attempt);
      kills_queued_ += kills.size();
      for (const auto& [worker, attempt] : kills) deliver(worker);
    });
  }
  if (fx.reschedule) request_schedule();
}

// ------------------------------------------------------------ scheduling

void Coordinator::request_schedule() {
  if (schedule_posted_) return;
  schedule_posted_ = true;
  reactor_.post([this] { schedule_pass(); });
}

void Coordinator::schedule_pass() {
  schedule_posted_ = false;
  TimePoint now = clock_.now();
  if (model_.resolve_cached(now, [this](const std::string& ref) { return output_exists(ref); })) {
    request_schedule();  // stages after the cached ones may be ready now
  }
  SchedulerView view = build_view(model_, now, options_.max_candidates_per_pass);
  if (!rejoining_.empty()) {
    std::erase_if(view.workers, [this](const WorkerSlot& w) { return rejoining_.count(w.id) > 0; });
  }
  Plan p = plan(view, now);
  std::vector<std::pair<WorkerId, Assignment>> out;
  std::size_t starts_now = 0;  // assignments to free cpus
  const std::size_t first_queued = p.assignments.size() - p.queued;
  for (std::size_t i = 0; i < p.assignments.size(); ++i) {
    const auto& [key, worker] = p.assignments[i];
    auto missing = missing_upstream(key);
    if (!missing.empty()) {
      for (const TaskKey& up : missing) {
        spdlog::warn("output of {}/{}/{} is missing: running its task again", up.job,
                     model_.job(up.job)->spec.stages[up.stage].name, up.index);
        model_.invalidate_output(up, now);
      }
      request_schedule();
      continue;
    }
    const Attempt& a = model_.assign(key, worker, now);
    if (TimePoint since = model_.runnable_since(a); since != TimePoint{} && now >= since) {
      metrics_.scheduling_seconds.observe(std::chrono::duration<double>(now - since).count());
    }
    out.emplace_back(worker, model_.assignment_for(a));
    if (i < first_queued) ++starts_now;
  }
  if (!out.empty()) {
    crash_.reached(CrashPoints::Point::assign_before_commit);
    // Persist before dispatch: a worker never runs an attempt the master could forget.
    // Outboxes only ever hold durable work, so a poll may take it at once.
    // Work only for busy workers' queues may wait for company.
    const Urgency urgency = starts_now > 0 ? Urgency::now : Urgency::patient;
    dispatch_after_commit(
        [this, out = std::move(out)]() mutable {
          crash_.reached(CrashPoints::Point::assign_after_commit);
          for (auto& [worker, a] : out) outboxes_[worker].assignments.push_back(std::move(a));
          for (auto& [worker, a] : out) deliver(worker);
        },
        urgency);
  }
  if (p.wake_at && (!wake_at_ || *p.wake_at < *wake_at_)) {
    if (wake_timer_) reactor_.cancel(wake_timer_);
    wake_at_ = p.wake_at;
    wake_timer_ = reactor_.call_after(std::max(Duration{1}, *p.wake_at - now), [this] {
      wake_timer_ = 0;
      wake_at_.reset();
      request_schedule();
    });
  }
}

// ------------------------------------------------------------ delivery

std::vector<TaskKey> Coordinator::missing_upstream(const TaskKey& key) const {
  std::vector<TaskKey> out;
  const Job& job = *model_.job(key.job);
  for (const std::string& up : job.spec.stages[key.stage].after) {
    int s = job.spec.stage_index(up);
    for (const Task& t : job.stages[s].tasks) {
      if (t.output_digest.empty()) continue;  // gave up: there is no output to pass on
      if (!output_exists(t.output_digest)) out.push_back(TaskKey{job.id, s, t.index});
    }
  }
  return out;
}

bool Coordinator::output_exists(const std::string& ref) const {
  if (!is_shared_ref(ref)) return blobs_.has(ref);
  if (options_.shared_root.empty()) return false;
  std::error_code ec;
  return std::filesystem::is_directory(options_.shared_root / shared_ref_path(ref), ec);
}

Result<std::string> Coordinator::commit_shared(const Attempt& a, const AttemptReport& report) {
  if (options_.shared_root.empty() || report.output_digest != attempt_output_ref(a.id)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("output {} is not attempt {}'s output directory",
                                  report.output_digest, a.id));
  }
  const Job& job = *model_.job(a.task.job);
  std::string ref = committed_output_ref(job.id, job.spec.stages[a.task.stage].name, a.task.index, a.id);
  auto from = options_.shared_root / shared_ref_path(report.output_digest);
  auto to = options_.shared_root / shared_ref_path(ref);
  std::error_code ec;
  if (!std::filesystem::exists(from, ec) && std::filesystem::is_directory(to, ec)) {
    return ref;  // renamed before a crash, not yet recorded: the worker retried its report
  }
  DROVER_TRY(make_dirs(to.parent_path()));
  std::filesystem::rename(from, to, ec);
  if (ec) {
    return make_error(ErrorCode::io, fmt::format("cannot commit {} as {}: {}", from.string(),
                                                 to.string(), ec.message()));
  }
  return ref;
}

std::vector<UpstreamOutput> Coordinator::really_missing(
    const std::vector<UpstreamOutput>& reported) const {
  std::vector<UpstreamOutput> out;
  for (const UpstreamOutput& up : reported) {
    bool gone = is_shared_ref(up.digest) ? !output_exists(up.digest) : !blobs_.get(up.digest).ok();
    if (gone) out.push_back(up);  // absent or corrupt here too
  }
  return out;
}

WorkReply Coordinator::take(const WorkerId& id, Outbox& box) {
  WorkReply out;
  const Worker* w = model_.worker(id);
  out.drain = w && w->state == WorkerState::draining;
  box.drain_notice = false;
  for (Assignment& a : box.assignments) {
    // Skip work fenced while it waited (job cancelled, worker declared dead).
    const Attempt* at = model_.attempt(a.attempt_id);
    if (at && is_active(at->state)) out.assignments.push_back(std::move(a));
  }
  kills_queued_ -= box.kills.size();
  out.kill = std::move(box.kills);
  box.assignments.clear();
  box.kills.clear();
  return out;
}

void Coordinator::deliver(const WorkerId& id) {
  auto it = outboxes_.find(id);
  if (it == outboxes_.end() || !it->second.waiter) return;
  Outbox& box = it->second;
  if (box.assignments.empty() && box.kills.empty() && !box.drain_notice) return;
  auto waiter = std::move(*box.waiter);
  box.waiter.reset();
  reactor_.cancel(box.timer);
  waiter(take(id, box));
}

std::uint64_t Coordinator::poll_work(const WorkerId& id, Duration wait, Reply<WorkReply> reply) {
  const Worker* w = model_.worker(id);
  if (!w || w->state == WorkerState::dead) {
    reply(make_error(ErrorCode::not_found, fmt::format("unknown worker {}: register first", id)));
    return 0;
  }
  if (rejoining_.erase(id)) request_schedule();  // polled without registering again
  Outbox& box = outboxes_[id];
  if (box.waiter) {  // a newer poll replaces an older one
    auto old = std::move(*box.waiter);
    box.waiter.reset();
    reactor_.cancel(box.timer);
    old(WorkReply{});
  }
  std::uint64_t poll = ++box.polls;
  if (wait <= Duration{0}) {  // no long poll: what there is now, without a timer
    reply(take(id, box));
    return 0;
  }
  box.waiter = std::move(reply);
  box.timer = reactor_.call_after(wait, [this, id] {
    auto it = outboxes_.find(id);
    if (it == outboxes_.end() || !it->second.waiter) return;
    auto waiter = std::move(*it->second.waiter);
    it->second.waiter.reset();
    waiter(take(id, it->second));
  });
  deliver(id);
  return poll;
}

// ------------------------------------------------------------ operations

void Coordinator::submit(NewJob job, Reply<JobId> reply) {
  const Job& j = model_.submit(std::move(job), clock_.now());
  JobId id = j.id;
  spdlog::info("job {} ({}) submitted by {} from {}", id, j.spec.name,
               j.user.empty() ? "anonymous" : j.user, j.source);
  request_schedule();
  after_commit([this, reply, id] {
    crash_.reached(CrashPoints::Point::after_submit_commit);
    reply(id);
  });
}

void Coordinator::rerun(const JobId& id, bool failed_only, Reply<JobId> reply) {
  auto job = model_.rerun(id, failed_only, clock_.now());
  if (!job.ok()) {
    reply(job.error());
    return;
  }
  JobId fresh = (*job)->id;
  spdlog::info("job {} reruns {}{}", fresh, id, failed_only ? " (failed tasks only)" : "");
  request_schedule();
  after_commit([reply, fresh] { reply(fresh); });
}

void Coordinator::cancel(const JobId& id, Reply<JobId> reply) {
  auto fx = model_.cancel(id, clock_.now());
  if (!fx.ok()) {
    reply(fx.error());
    return;
  }
  spdlog::info("job {} cancelled", id);
  apply(*fx);
  after_commit([reply, id] { reply(id); });
}

void Coordinator::register_worker(const WorkerRegistration& reg, Reply<RegistrationReply> reply) {
  if (reg.id.empty() || reg.cpus <= 0) {
    reply(make_error(ErrorCode::invalid_argument, "registration needs an id and cpus > 0"));
    return;
  }
  Effects fx = model_.register_worker(reg, clock_.now());
  rejoining_.erase(reg.id);
  spdlog::info("worker {} registered from {} ({} cpus, {} running)", reg.id, reg.address,
               reg.cpus, reg.running.size());
  RegistrationReply out;
  out.heartbeat_interval_ms = options_.heartbeat_interval.count();
  out.worker_timeout_ms = options_.worker_timeout.count();
  out.output_store = options_.shared_root.empty()
                         ? std::string("master")
                         : fmt::format("{}{}", kSharedStorePrefix, options_.shared_root.string());
  for (const auto& [w, a] : fx.kill) out.kill.push_back(a);
  fx.kill.clear();
  apply(fx);
  after_commit([reply, out] { reply(out); });
}

void Coordinator::heartbeat(const WorkerId& id, const Heartbeat& hb, Reply<HeartbeatReply> reply) {
  ++metrics_.heartbeats;
  auto fx = model_.heartbeat(id, hb, clock_.now(), options_.worker_timeout);
  HeartbeatReply out;
  if (!fx) {
    out.reregister = true;
    reply(out);
    return;
  }
  for (const auto& [w, a] : fx->kill) out.kill.push_back(a);
  fx->kill.clear();
  if (kills_queued_ > 0) {
    if (auto it = outboxes_.find(id); it != outboxes_.end()) {
      std::vector<AttemptId>& kills = it->second.kills;
      out.kill.insert(out.kill.end(), kills.begin(), kills.end());
      kills_queued_ -= kills.size();
      kills.clear();
    }
  }
  // Only a lost assignment changes durable state (and asks for a pass); a plain
  // heartbeat is answered at once, not after whatever else waits to commit.
  const bool changed = fx->reschedule;
  apply(*fx);
  if (changed) {
    after_commit([reply, out] { reply(out); });
  } else {
    reply(out);
  }
}

void Coordinator::attempt_started(AttemptId id, TimePoint started_at, Reply<Ok> reply) {
  const Attempt* a = model_.attempt(id);
  Status s = model_.started(id, a ? a->worker : WorkerId{}, started_at);
  if (!s.ok()) {
    reply(s.error());
    return;
  }
  after_commit([reply] { reply(Ok{}); }, Urgency::patient);
}

void Coordinator::attempt_finished(AttemptId id, const AttemptReport& report, Reply<Ok> reply) {
  const Attempt* a = model_.attempt(id);
  AttemptReport checked = report;
  if (report.state == AttemptState::succeeded && is_shared_ref(report.output_digest)) {
    // Commit = rename under this decision; only an active attempt of a task
    // without a committed output gets here (anything else is fenced below).
    if (a && is_active(a->state) && model_.task(a->task).output_digest.empty()) {
      auto ref = commit_shared(*a, report);
      if (!ref.ok()) {
        reply(ref.error());
        return;
      }
      checked.output_digest = *ref;
    }
  } else if (report.state == AttemptState::succeeded && !blobs_.has(report.output_digest)) {
    reply(make_error(ErrorCode::invalid_argument,
                     fmt::format("output blob {} was not uploaded", report.output_digest)));
    return;
  }
  checked.missing_upstream = really_missing(report.missing_upstream);
  if (!report.missing_upstream.empty() && checked.missing_upstream.empty()) {
    checked.message += " (the master has those outputs intact)";
  }
  auto fx = model_.finished(id, a ? a->worker : WorkerId{}, checked, clock_.now());
  if (!fx.ok()) {
    reply(fx.error());
    return;
  }
  if (report.started_at > 0 && report.finished_at >= report.started_at) {
    metrics_.attempt_seconds.observe(static_cast<double>(report.finished_at - report.started_at) / 1000);
  }
  const Job* job = model_.job(a->task.job);
  if (job && is_terminal(job->state)) {
    spdlog::info("job {} {}{}{}", job->id, to_string(job->state), job->message.empty() ? "" : ": ",
                 job->message);
  }
  apply(*fx);
  if (report.state == AttemptState::succeeded) {
    crash_.reached(CrashPoints::Point::finish_before_commit);
    after_commit(
        [this, reply] {
          crash_.reached(CrashPoints::Point::finish_after_commit);
          reply(Ok{});
        },
        Urgency::patient);
    return;
  }
  after_commit([reply] { reply(Ok{}); }, Urgency::patient);
}

void Coordinator::attempt_checkpoint(AttemptId id, const std::string& digest, Reply<Ok> reply) {
  if (!blobs_.has(digest)) {
    reply(make_error(ErrorCode::invalid_argument,
                     fmt::format("checkpoint blob {} was not uploaded", digest)));
    return;
  }
  Status s = model_.checkpoint(id, digest);
  if (!s.ok()) {
    reply(s.error());
    return;
  }
  after_commit([reply] { reply(Ok{}); });
}

void Coordinator::drain(const WorkerId& id, Reply<WorkerId> reply) {
  Status s = model_.drain(id);
  if (!s.ok()) {
    reply(s.error());
    return;
  }
  spdlog::info("worker {} draining", id);
  after_commit([this, id, reply] {
    outboxes_[id].drain_notice = true;
    deliver(id);
    reply(id);
  });
}

void Coordinator::leave(const WorkerId& id, Reply<Ok> reply) {
  Effects fx = model_.mark_dead(id, "worker left", clock_.now());
  spdlog::info("worker {} left", id);
  apply(fx);
  after_commit([reply] { reply(Ok{}); });
}

void Coordinator::poll_disconnected(const WorkerId& id, std::uint64_t poll) {
  auto it = outboxes_.find(id);
  if (it == outboxes_.end() || it->second.polls != poll) return;  // it polled again already
  if (it->second.waiter) {  // nobody is listening on that connection any more
    it->second.waiter.reset();
    reactor_.cancel(it->second.timer);
  }
  reactor_.call_after(options_.reconnect_grace, [this, id, poll] {
    auto box = outboxes_.find(id);
    const Worker* w = model_.worker(id);
    if (!w || w->state == WorkerState::dead) return;
    if (box != outboxes_.end() && box->second.polls != poll) return;  // it came back
    spdlog::warn("worker {} closed its connection and did not come back", id);
    apply(model_.mark_dead(id, "its connection closed and it did not come back", clock_.now()));
    after_commit([] {});
  });
}

// ------------------------------------------------------------ liveness

void Coordinator::check_liveness() {
  Effects fx = model_.expire_workers(clock_.now(), options_.worker_timeout);
  for (const auto& [id, w] : model_.workers()) {
    if (w.state != WorkerState::dead) continue;
    auto it = outboxes_.find(id);
    if (it == outboxes_.end()) continue;
    std::optional<Reply<WorkReply>> waiter = std::move(it->second.waiter);
    if (waiter) reactor_.cancel(it->second.timer);
    kills_queued_ -= it->second.kills.size();
    outboxes_.erase(it);
    if (waiter) (*waiter)(make_error(ErrorCode::not_found, "worker declared dead"));
  }
  apply(fx);
  if (!model_.dirty().empty()) after_commit([] {});
  Duration tick = std::max<Duration>(std::chrono::milliseconds(50), options_.heartbeat_interval / 2);
  reactor_.call_after(tick, [this] { check_liveness(); });
}

}  // namespace drover::master
