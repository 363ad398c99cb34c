#include "master/model/model.hpp"

#include <algorithm>
#include <cassert>

#include <fmt/format.h>

namespace drover::master {

namespace {

Duration backoff_for(const StageSpec& stage, int failures) {
  // Delay before attempt failures+1: retry_backoff, doubling, capped at 1m.
  Duration d = stage.retry_backoff;
  for (int i = 1; i < failures && d < std::chrono::minutes(1); ++i) d *= 2;
  return std::min<Duration>(d, std::chrono::minutes(1));
}

}  // namespace

// ---------------------------------------------------------------- jobs

const Job& Model::submit(NewJob nj, TimePoint now) {
  Job job;
  job.seq = next_job_seq_++;
  job.id = fmt::format("j-{:06d}", job.seq);
  job.spec = std::move(nj.spec);
  job.bundle_digest = std::move(nj.bundle_digest);
  job.user = std::move(nj.user);
  job.source = std::move(nj.source);
  job.submitted_at = now;
  job.stages.resize(job.spec.stages.size());
  for (std::size_t s = 0; s < job.stages.size(); ++s) {
    auto& inputs = nj.stage_inputs[s];
    auto& tasks = job.stages[s].tasks;
    tasks.resize(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      tasks[i].index = static_cast<std::int64_t>(i);
      tasks[i].input_kind = inputs[i].first;
      tasks[i].input = inputs[i].second;
      mark(TaskKey{job.id, static_cast<int>(s), tasks[i].index});
    }
  }
  dirty_.jobs.insert(job.id);
  dirty_.counters = true;
  auto [it, inserted] = jobs_.emplace(job.id, std::move(job));
  assert(inserted && "job ids come from a strictly increasing sequence");
  return it->second;
}

Result<Effects> Model::cancel(const JobId& id, TimePoint now) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return make_error(ErrorCode::not_found, fmt::format("no job {}", id));
  Job& job = it->second;
  if (is_terminal(job.state)) {
    return make_error(ErrorCode::conflict,
                      fmt::format("job {} already ended: {}", id, to_string(job.state)));
  }
  Effects fx;
  finish_job(job, JobState::cancelled, "cancelled by user", now, fx);
  return fx;
}

void Model::finish_job(Job& job, JobState state, std::string message, TimePoint now,
                       Effects& fx) {
  job.state = state;
  job.message = std::move(message);
  job.finished_at = now;
  dirty_.jobs.insert(job.id);
  for (std::size_t s = 0; s < job.stages.size(); ++s) {
    for (Task& task : job.stages[s].tasks) {
      if (task.attempts.empty()) continue;
      Attempt& a = attempts_.at(task.attempts.back());
      if (a.state == AttemptState::pending) {
        end_attempt(a, AttemptState::killed, now);
        a.reason = FailureReason::killed;
        a.message = job.message;
      } else if (is_active(a.state)) {
        fx.kill.emplace_back(a.worker, a.id);
        end_attempt(a, AttemptState::killed, now);
        a.reason = FailureReason::killed;
        a.message = job.message;
        fx.reschedule = true;
      }
    }
  }
}

// ---------------------------------------------------------------- attempts

Attempt& Model::new_attempt(const TaskKey& key, TimePoint now) {
  Task& task = task_mut(key);
  Attempt a;
  a.id = next_attempt_id_++;
  a.task = key;
  a.number = static_cast<int>(task.attempts.size()) + 1;
  a.not_before = now;
  task.attempts.push_back(a.id);
  task.state = AttemptState::pending;
  dirty_.counters = true;
  dirty_.attempts.insert(a.id);
  mark(key);
  return attempts_.emplace(a.id, std::move(a)).first->second;
}

const Attempt& Model::assign(const TaskKey& key, const WorkerId& worker_id, TimePoint now) {
  Task& task = task_mut(key);
  Attempt* a = nullptr;
  if (!task.attempts.empty() && attempts_.at(task.attempts.back()).state == AttemptState::pending) {
    a = &attempts_.at(task.attempts.back());
  } else {
    a = &new_attempt(key, now);
  }
  Job& job = jobs_.at(key.job);
  const StageSpec& spec = job.spec.stages[key.stage];
  Worker& w = workers_.at(worker_id);
  a->state = AttemptState::assigned;
  a->worker = worker_id;
  a->assigned_at = now;
  task.state = AttemptState::assigned;
  w.active.insert(a->id);
  w.cpus_used += spec.resources.cpus;
  w.memory_used += spec.resources.memory;
  if (job.state == JobState::queued) {
    job.state = JobState::running;
    job.started_at = now;
    dirty_.jobs.insert(job.id);
  }
  dirty_.attempts.insert(a->id);
  mark(key);
  return *a;
}

Status Model::started(AttemptId id, const WorkerId& worker, TimePoint started_at) {
  auto it = attempts_.find(id);
  if (it == attempts_.end() || it->second.worker != worker || !is_active(it->second.state)) {
    return make_error(ErrorCode::conflict, fmt::format("attempt {} is not active on {}", id, worker));
  }
  Attempt& a = it->second;
  if (a.state == AttemptState::assigned) {
    a.state = AttemptState::running;
    a.started_at = started_at;
    task_mut(a.task).state = AttemptState::running;
    dirty_.attempts.insert(id);
    mark(a.task);
  }
  return ok_status();
}

void Model::release(Attempt& a) {
  auto wit = workers_.find(a.worker);
  if (wit == workers_.end() || wit->second.active.erase(a.id) == 0) return;
  const StageSpec& spec = jobs_.at(a.task.job).spec.stages[a.task.stage];
  Worker& w = wit->second;
  w.cpus_used = std::max(0.0, w.cpus_used - spec.resources.cpus);
  w.memory_used -= std::min(w.memory_used, spec.resources.memory);
}

void Model::end_attempt(Attempt& a, AttemptState state, TimePoint now) {
  release(a);
  a.state = state;
  a.finished_at = now;
  task_mut(a.task).state = state;
  dirty_.attempts.insert(a.id);
  mark(a.task);
}

Result<Effects> Model::finished(AttemptId id, const WorkerId& worker, const AttemptReport& r,
                                TimePoint now) {
  auto it = attempts_.find(id);
  if (it == attempts_.end() || it->second.worker != worker || !is_active(it->second.state)) {
    return make_error(ErrorCode::conflict, fmt::format("attempt {} is not active on {}", id, worker));
  }
  Attempt& a = it->second;
  Job& job = jobs_.at(a.task.job);
  Task& task = task_mut(a.task);
  Effects fx;
  fx.reschedule = true;
  if (a.started_at == TimePoint{} && r.started_at > 0) a.started_at = from_millis(r.started_at);
  a.exit_code = r.exit_code;
  a.signal = r.signal;
  a.reason = r.reason;
  a.message = r.message;
  a.stdout_digest = r.stdout_digest;
  a.stderr_digest = r.stderr_digest;
  if (!r.checkpoint_digest.empty()) task.checkpoint_digest = r.checkpoint_digest;
  Worker* w = workers_.count(a.worker) ? &workers_.at(a.worker) : nullptr;
  if (r.state == AttemptState::succeeded) {
    a.output_digest = r.output_digest;
    a.output_bytes = r.output_bytes;
    end_attempt(a, AttemptState::succeeded, now);
    if (w) count_on_worker(*w, false, now);
    task_succeeded(job, task, a, now);
  } else if (r.state == AttemptState::killed) {
    // The worker stopped it (drain, shutdown): not the task's fault, hand it back.
    end_attempt(a, AttemptState::killed, now);
    if (a.reason.empty()) a.reason = FailureReason::killed;
    if (!is_terminal(job.state)) new_attempt(a.task, now);
  } else if (!r.missing_upstream.empty()) {
    // Lineage: its inputs are gone, not its fault. Rerun their producers, then it.
    end_attempt(a, AttemptState::failed, now);
    for (const UpstreamOutput& up : r.missing_upstream) {
      int s = job.spec.stage_index(up.stage);
      if (s >= 0 && up.index >= 0 && up.index < static_cast<std::int64_t>(job.stages[s].tasks.size())) {
        invalidate_output(TaskKey{job.id, s, up.index}, now);
      }
    }
    if (!is_terminal(job.state)) new_attempt(a.task, now);
  } else {
    end_attempt(a, AttemptState::failed, now);
    if (a.reason.empty()) a.reason = FailureReason::drover_error;
    if (w) count_on_worker(*w, true, now);
    after_failure(job, task, a, now, fx);
  }
  return fx;
}

Status Model::checkpoint(AttemptId id, const std::string& digest) {
  auto it = attempts_.find(id);
  if (it == attempts_.end() || !is_active(it->second.state)) {
    return make_error(ErrorCode::conflict, fmt::format("attempt {} is not active", id));
  }
  task_mut(it->second.task).checkpoint_digest = digest;
  mark(it->second.task);
  return ok_status();
}

bool Model::invalidate_output(const TaskKey& key, TimePoint now) {
  Job& job = jobs_.at(key.job);
  Task& task = task_mut(key);
  if (task.output_digest.empty()) return false;
  task.output_digest.clear();
  task.output_bytes = 0;
  --job.stages[key.stage].succeeded;
  if (is_terminal(job.state)) {
    mark(key);
    return true;
  }
  new_attempt(key, now);
  return true;
}

void Model::count_on_worker(Worker& w, bool failed, TimePoint now) {
  if (!failed) {
    if (w.failures_in_a_row != 0) dirty_.workers.insert(w.id);
    w.failures_in_a_row = 0;
    return;
  }
  dirty_.workers.insert(w.id);
  if (++w.failures_in_a_row >= kExcludeAfterFailures && w.state == WorkerState::alive) {
    w.state = WorkerState::excluded;
    w.excluded_until = now + exclude_for_;
  }
}

void Model::task_succeeded(Job& job, Task& task, const Attempt& a, TimePoint now) {
  // Exactly one committed output per task: the first success wins.
  if (task.output_digest.empty()) {
    task.output_digest = a.output_digest;
    task.output_bytes = a.output_bytes;
    ++job.stages[a.task.stage].succeeded;
  }
  for (const Stage& s : job.stages) {
    if (s.succeeded < static_cast<std::int64_t>(s.tasks.size())) return;
  }
  Effects ignored;
  finish_job(job, JobState::succeeded, "", now, ignored);
}

void Model::after_failure(Job& job, Task& task, Attempt& a, TimePoint now, Effects& fx) {
  const StageSpec& spec = job.spec.stages[a.task.stage];
  ++task.failures;
  const auto& no_retry = spec.no_retry_exit_codes;
  if (a.reason == FailureReason::exit_code &&
      std::find(no_retry.begin(), no_retry.end(), a.exit_code) != no_retry.end()) {
    finish_job(job, JobState::failed,
               fmt::format("task {}/{} exited {}, listed in no_retry_exit_codes", spec.name,
                           task.index, a.exit_code),
               now, fx);
    return;
  }
  if (task.failures >= spec.max_attempts) {
    finish_job(job, JobState::failed,
               fmt::format("task {}/{} failed {} times; last: {}", spec.name, task.index,
                           task.failures, a.message.empty() ? a.reason : a.message),
               now, fx);
    return;
  }
  Attempt& next = new_attempt(a.task, now);
  next.not_before = now + backoff_for(spec, task.failures);
}

void Model::lose(Attempt& a, std::string message, TimePoint now, Effects& fx) {
  end_attempt(a, AttemptState::lost, now);
  a.reason = FailureReason::lost_worker;
  a.message = std::move(message);
  fx.reschedule = true;
  Job& job = jobs_.at(a.task.job);
  Task& task = task_mut(a.task);
  if (is_terminal(job.state)) return;
  if (++task.lost >= kMaxLostAttempts) {
    finish_job(job, JobState::failed,
               fmt::format("task {}/{} was lost {} times (its worker died each time)",
                           job.spec.stages[a.task.stage].name, task.index, task.lost),
               now, fx);
    return;
  }
  new_attempt(a.task, now);
}

// ---------------------------------------------------------------- workers

Effects Model::register_worker(const WorkerRegistration& reg, TimePoint now) {
  Effects fx;
  fx.reschedule = true;
  Worker& w = workers_[reg.id];
  w.id = reg.id;
  w.address = reg.address;
  w.cpus = reg.cpus;
  w.memory = reg.memory;
  w.labels = reg.labels;
  // A restart ends a drain, not an exclusion.
  if (w.state != WorkerState::excluded || now >= w.excluded_until) w.state = WorkerState::alive;
  if (reg.draining) w.state = WorkerState::draining;
  w.registered_at = now;
  w.last_heartbeat_at = now;
  dirty_.workers.insert(w.id);
  std::set<AttemptId> reported(reg.running.begin(), reg.running.end());
  for (AttemptId id : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    if (!reported.count(id)) lose(attempts_.at(id), "worker restarted without it", now, fx);
  }
  for (AttemptId id : reported) {
    if (!w.active.count(id)) fx.kill.emplace_back(w.id, id);  // adopted only if still ours
  }
  return fx;
}

std::optional<Effects> Model::heartbeat(const WorkerId& id, const Heartbeat& hb, TimePoint now,
                                        Duration assign_grace) {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.state == WorkerState::dead) return std::nullopt;
  Worker& w = it->second;
  w.last_heartbeat_at = now;
  Effects fx;
  std::set<AttemptId> reported;
  for (const AttemptProgress& p : hb.running) {
    reported.insert(p.attempt_id);
    if (w.active.count(p.attempt_id)) {
      attempts_.at(p.attempt_id).progress = p.progress;
    } else {
      fx.kill.emplace_back(id, p.attempt_id);
    }
  }
  // An assignment the worker never acknowledged was lost in transit.
  for (AttemptId aid : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    Attempt& a = attempts_.at(aid);
    if (a.state == AttemptState::assigned && !reported.count(aid) &&
        now - a.assigned_at > assign_grace) {
      lose(a, "assignment never reached the worker", now, fx);
    }
  }
  return fx;
}

Effects Model::expire_workers(TimePoint now, Duration timeout) {
  Effects fx;
  for (auto& [id, w] : workers_) {
    if (w.state == WorkerState::excluded && now >= w.excluded_until) {
      w.state = WorkerState::alive;
      w.failures_in_a_row = 0;
      dirty_.workers.insert(id);
      fx.reschedule = true;
    }
    if (w.state == WorkerState::dead || now - w.last_heartbeat_at <= timeout) continue;
    lose_all(w, fmt::format("worker {} missed heartbeats for {}", id, format_duration(timeout)),
             now, fx);
  }
  return fx;
}

void Model::lose_all(Worker& w, const std::string& why, TimePoint now, Effects& fx) {
  w.state = WorkerState::dead;
  dirty_.workers.insert(w.id);
  fx.reschedule = true;
  for (AttemptId aid : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    lose(attempts_.at(aid), why, now, fx);
  }
}

Effects Model::mark_dead(const WorkerId& id, const std::string& why, TimePoint now) {
  Effects fx;
  auto it = workers_.find(id);
  if (it != workers_.end() && it->second.state != WorkerState::dead) {
    lose_all(it->second, why, now, fx);
  }
  return fx;
}

Status Model::drain(const WorkerId& id) {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.state == WorkerState::dead) {
    return make_error(ErrorCode::not_found, fmt::format("no live worker {}", id), "worker");
  }
  it->second.state = WorkerState::draining;
  dirty_.workers.insert(id);
  return ok_status();
}

void Model::restart_liveness(TimePoint now) {
  for (auto& [id, w] : workers_) {
    if (w.state != WorkerState::dead) w.last_heartbeat_at = now;
  }
}

// ---------------------------------------------------------------- reading

const Job* Model::job(const JobId& id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const Attempt* Model::attempt(AttemptId id) const {
  auto it = attempts_.find(id);
  return it == attempts_.end() ? nullptr : &it->second;
}

const Worker* Model::worker(const WorkerId& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

const Task& Model::task(const TaskKey& key) const {
  return jobs_.at(key.job).stages.at(key.stage).tasks.at(key.index);
}

Task& Model::task_mut(const TaskKey& key) {
  return jobs_.at(key.job).stages.at(key.stage).tasks.at(key.index);
}

std::vector<const Job*> Model::unfinished_jobs() const {
  std::vector<const Job*> out;
  for (const auto& [id, job] : jobs_) {
    if (!is_terminal(job.state)) out.push_back(&job);
  }
  std::sort(out.begin(), out.end(), [](const Job* a, const Job* b) {
    if (a->spec.priority != b->spec.priority) return a->spec.priority > b->spec.priority;
    return a->seq < b->seq;
  });
  return out;
}

bool Model::stage_ready(const Job& job, int s) const {
  for (const std::string& up : job.spec.stages[s].after) {
    const Stage& st = job.stages[job.spec.stage_index(up)];
    if (st.succeeded < static_cast<std::int64_t>(st.tasks.size())) return false;
  }
  return true;
}

Assignment Model::assignment_for(const Attempt& a) const {
  const Job& job = jobs_.at(a.task.job);
  const StageSpec& spec = job.spec.stages[a.task.stage];
  const Stage& stage = job.stages[a.task.stage];
  const Task& task = stage.tasks[a.task.index];
  Assignment out;
  out.attempt_id = a.id;
  out.job = job.id;
  out.stage = spec.name;
  out.index = task.index;
  out.count = static_cast<std::int64_t>(stage.tasks.size());
  out.attempt = a.number;
  out.input_kind = task.input_kind;
  out.input = task.input;
  out.bundle_digest = job.bundle_digest;
  out.command = spec.command;
  out.env = spec.env;
  out.timeout_ms = spec.timeout.count();
  out.checkpoint_interval_ms = spec.checkpoint_interval.count();
  out.cpus = spec.resources.cpus;
  out.memory = spec.resources.memory;
  out.checkpoint_digest = task.checkpoint_digest;
  for (const std::string& up : spec.after) {
    int u = job.spec.stage_index(up);
    for (const Task& t : job.stages[u].tasks) {
      out.upstream.push_back(UpstreamOutput{up, t.index, t.output_digest});
    }
  }
  return out;
}

// ---------------------------------------------------------------- loading

void Model::load_counters(std::int64_t next_attempt_id, std::int64_t next_job_seq) {
  next_attempt_id_ = next_attempt_id;
  next_job_seq_ = next_job_seq;
}

Job& Model::load_job(Job job) {
  JobId id = job.id;
  return jobs_.insert_or_assign(id, std::move(job)).first->second;
}

void Model::load_task(const JobId& id, int stage, Task task) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || stage < 0 || stage >= static_cast<int>(it->second.stages.size())) return;
  auto& tasks = it->second.stages[stage].tasks;
  if (task.index < 0) return;
  if (tasks.size() <= static_cast<std::size_t>(task.index)) tasks.resize(task.index + 1);
  std::int64_t index = task.index;
  tasks[index] = std::move(task);
}

void Model::load_attempt(Attempt attempt) { attempts_.emplace(attempt.id, std::move(attempt)); }

void Model::load_worker(Worker worker) { workers_.emplace(worker.id, std::move(worker)); }

void Model::rebuild() {
  for (auto& [id, job] : jobs_) {
    for (Stage& s : job.stages) {
      s.succeeded = 0;
      for (Task& t : s.tasks) {
        t.attempts.clear();
        if (!t.output_digest.empty()) ++s.succeeded;
      }
    }
  }
  for (auto& [id, w] : workers_) {
    w.active.clear();
    w.cpus_used = 0;
    w.memory_used = 0;
  }
  for (auto& [id, a] : attempts_) {  // ascending ids: attempts in creation order
    task_mut(a.task).attempts.push_back(id);
    if (!is_active(a.state)) continue;
    auto wit = workers_.find(a.worker);
    if (wit == workers_.end()) continue;
    const StageSpec& spec = jobs_.at(a.task.job).spec.stages[a.task.stage];
    wit->second.active.insert(id);
    wit->second.cpus_used += spec.resources.cpus;
    wit->second.memory_used += spec.resources.memory;
  }
}

}  // namespace drover::master
