#include "master/model/model.hpp"

#include <algorithm>
#include <cassert>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs/fs.hpp"

namespace drover::master {

namespace {

Duration backoff_for(const StageSpec& stage, int failures) {
  // Delay before attempt failures+1: retry_backoff, doubling, capped at 1m.
  Duration d = stage.retry_backoff;
  for (int i = 1; i < failures && d < std::chrono::minutes(1); ++i) d *= 2;
  return std::min<Duration>(d, std::chrono::minutes(1));
}

// What a cache key covers besides upstream outputs (SPEC §2): the bundle, the
// stage's command and env, and the task's input (files: path, size, mtime).
std::string cache_base(const std::string& bundle_digest, const StageSpec& stage,
                       const std::string& kind, const std::string& input,
                       const std::map<std::string, std::string>& file_meta) {
  nlohmann::json j{{"bundle", bundle_digest}, {"command", stage.command}, {"env", stage.env},
                   {"partitions", stage.partitions}, {"kind", kind}, {"input", input}};
  if (kind == "file" || kind == "files") {
    nlohmann::json meta = nlohmann::json::object();
    std::size_t from = 0;
    while (from <= input.size()) {  // "files" inputs are newline-separated
      std::size_t end = std::min(input.find('\n', from), input.size());
      std::string path = input.substr(from, end - from);
      if (auto it = file_meta.find(path); it != file_meta.end()) meta[path] = it->second;
      from = end + 1;
    }
    j["files"] = std::move(meta);
  }
  return sha256_hex(j.dump());
}

}  // namespace

std::int64_t Job::failed_tasks() const {
  std::int64_t n = 0;
  for (const Stage& s : stages) n += s.failed;
  return n;
}

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
    const StageSpec& spec = job.spec.stages[s];
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      tasks[i].index = static_cast<std::int64_t>(i);
      tasks[i].input_kind = inputs[i].first;
      tasks[i].input = inputs[i].second;
      if (spec.cache) {
        tasks[i].cache_base = cache_base(job.bundle_digest, spec, tasks[i].input_kind,
                                         tasks[i].input, nj.file_meta);
      }
      job.stages[s].pending.insert(tasks[i].index);
      mark(TaskKey{job.id, static_cast<int>(s), tasks[i].index});
    }
    job.stages[s].counts[TaskState::pending] = static_cast<std::int64_t>(tasks.size());
  }
  dirty_.jobs.insert(job.id);
  dirty_.counters = true;
  std::int64_t task_count = 0;
  for (const Stage& st : job.stages) task_count += static_cast<std::int64_t>(st.tasks.size());
  JobEvent event;
  event.type = "submitted";
  event.message = fmt::format("{} task{} in {} stage{}", task_count, task_count == 1 ? "" : "s",
                              job.stages.size(), job.stages.size() == 1 ? "" : "s");
  record(job.id, std::move(event), now);
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
      if (a.state != AttemptState::pending && !is_active(a.state)) continue;
      if (is_active(a.state)) {
        fx.kill.emplace_back(a.worker, a.id);
        fx.reschedule = true;
      }
      a.reason = FailureReason::killed;
      a.message = job.message;
      end_attempt(a, AttemptState::killed, now);
    }
  }
  JobEvent event;
  event.type = state == JobState::cancelled ? "cancelled" : fmt::format("job_{}", to_string(state));
  event.message = job.message;
  record(job.id, std::move(event), now);
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
  dirty_.counters = true;
  dirty_.attempts.insert(a.id);
  Attempt& stored = attempts_.emplace(a.id, std::move(a)).first->second;
  refresh(key);
  return stored;
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
  const bool speculative = has_other_active(task, a->id);
  a->state = AttemptState::assigned;
  a->worker = worker_id;
  a->assigned_at = now;
  refresh(key);
  record(*a, "assigned", now, speculative ? "speculative copy" : "");
  w.active.insert(a->id);
  w.cpus_used += spec.resources.cpus;
  w.memory_used += spec.resources.memory;
  if (job.state == JobState::queued) {
    job.state = JobState::running;
    job.started_at = now;
    dirty_.jobs.insert(job.id);
  }
  dirty_.attempts.insert(a->id);
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
    note_start(a);
    dirty_.attempts.insert(id);
    refresh(a.task);
    record(a, "started", started_at);
  }
  return ok_status();
}

void Model::note_start(const Attempt& a) {
  Stage& stage = jobs_.at(a.task.job).stages[a.task.stage];
  if (stage.started_at == TimePoint{} || a.started_at < stage.started_at) stage.started_at = a.started_at;
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
  const bool was_placed = a.state != AttemptState::pending;
  release(a);
  a.state = state;
  a.finished_at = now;
  dirty_.attempts.insert(a.id);
  refresh(a.task);
  if (was_placed) {  // attempts that never left the queue are not worth an event
    record(a, state == AttemptState::succeeded ? "finished" : std::string(to_string(state)), now);
  }
}

bool Model::has_other_active(const Task& task, AttemptId except) const {
  for (AttemptId id : task.attempts) {
    if (id != except && is_active(attempts_.at(id).state)) return true;
  }
  return false;
}

std::vector<const Attempt*> Model::active_attempts(const Task& task) const {
  std::vector<const Attempt*> out;
  for (AttemptId id : task.attempts) {
    const Attempt& a = attempts_.at(id);
    if (is_active(a.state)) out.push_back(&a);
  }
  return out;
}

TaskState Model::derived_state(const Task& t) const {
  if (!t.output_digest.empty()) return TaskState::succeeded;
  if (t.gave_up) return TaskState::failed;
  if (t.attempts.empty()) return TaskState::pending;
  for (auto it = t.attempts.rbegin(); it != t.attempts.rend(); ++it) {
    const Attempt& a = attempts_.at(*it);
    if (is_active(a.state)) return a.state;
  }
  return attempts_.at(t.attempts.back()).state;
}

bool Model::troubled(const Task& t) const {
  if (t.attempts.empty()) return false;
  const AttemptState last = attempts_.at(t.attempts.back()).state;
  return last == AttemptState::failed || last == AttemptState::lost || t.failures > 0 || t.lost > 0;
}

void Model::refresh(const TaskKey& key) {
  Job& job = jobs_.at(key.job);
  Stage& stage = job.stages.at(key.stage);
  Task& t = stage.tasks.at(key.index);
  const TaskState state = derived_state(t);
  if (t.state != state) {
    if (--stage.counts[t.state] == 0) stage.counts.erase(t.state);
    ++stage.counts[state];
    t.state = state;
  }
  if (state == TaskState::pending) {
    stage.pending.insert(t.index);
  } else {
    stage.pending.erase(t.index);
  }
  if (is_active(state)) {
    stage.active.insert(t.index);
  } else {
    stage.active.erase(t.index);
  }
  if (troubled(t)) stage.troubled.insert(t.index);
  mark(key);
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
  if (a.started_at == TimePoint{} && r.started_at > 0) {
    a.started_at = from_millis(r.started_at);
    note_start(a);
    // A quick task's worker sends no "started" (worker/agent/attempt_runner):
    // its process ran when it exited or was signalled.
    if (a.state == AttemptState::assigned && (r.exit_code >= 0 || r.signal != 0)) {
      record(a, "started", a.started_at);
    }
  }
  a.cpu_ms = r.cpu_ms;
  job.stages[a.task.stage].cpu_ms += r.cpu_ms;
  a.exit_code = r.exit_code;
  a.signal = r.signal;
  a.reason = r.reason;
  a.message = r.message;
  a.stdout_digest = r.stdout_digest;
  a.stderr_digest = r.stderr_digest;
  if (!r.checkpoint_digest.empty()) task.checkpoint_digest = r.checkpoint_digest;
  Worker* w = workers_.count(a.worker) ? &workers_.at(a.worker) : nullptr;
  const bool other_active = has_other_active(task, a.id);
  if (r.state == AttemptState::succeeded) {
    a.output_digest = r.output_digest;
    a.output_bytes = r.output_bytes;
    end_attempt(a, AttemptState::succeeded, now);
    if (w) count_on_worker(*w, false, now);
    // Speculation: the first commit wins, the other copy is killed.
    for (AttemptId other : std::vector<AttemptId>(task.attempts)) {
      Attempt& o = attempts_.at(other);
      if (other == a.id || !is_active(o.state)) continue;
      fx.kill.emplace_back(o.worker, o.id);
      o.reason = FailureReason::killed;
      o.message = fmt::format("attempt {} of this task committed first", a.number);
      end_attempt(o, AttemptState::killed, now);
    }
    task_succeeded(job, task, a, now, fx);
  } else if (r.state == AttemptState::killed) {
    // The worker stopped it (drain, shutdown): not the task's fault, hand it back.
    if (a.reason.empty()) a.reason = FailureReason::killed;
    end_attempt(a, AttemptState::killed, now);
    if (!is_terminal(job.state) && !other_active) new_attempt(a.task, now);
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
    if (a.reason.empty()) a.reason = FailureReason::drover_error;
    end_attempt(a, AttemptState::failed, now);
    if (w) count_on_worker(*w, true, now);
    if (other_active) {
      ++task.failures;  // the other copy decides the task's fate
    } else {
      after_failure(job, task, a, now, fx);
    }
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

void Model::task_succeeded(Job& job, Task& task, const Attempt& a, TimePoint now, Effects& fx) {
  // Exactly one committed output per task: the first success wins.
  if (!task.output_digest.empty() || task.gave_up) return;
  commit_output(job, a.task, a.output_digest, a.output_bytes, false);
  record(a, "committed", now, "");
  Stage& stage = job.stages[a.task.stage];
  if (a.started_at != TimePoint{} && a.finished_at >= a.started_at) {
    stage.run_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                               a.finished_at - a.started_at).count());
    stage.run_ms_sum += stage.run_ms.back();
  }
  const StageSpec& spec = job.spec.stages[a.task.stage];
  if (spec.cache && !task.cache_base.empty()) {
    std::string key = cache_key(job, a.task.stage, task);
    cache_[key] = CachedOutput{a.output_digest, a.output_bytes};
    dirty_.cache.insert(key);
  }
  maybe_finish(job, now, fx);
}

void Model::commit_output(Job& job, const TaskKey& key, const std::string& ref,
                          std::uint64_t bytes, bool cached) {
  Task& task = task_mut(key);
  task.output_digest = ref;
  task.output_bytes = bytes;
  task.cached = cached;
  ++job.stages[key.stage].succeeded;
  refresh(key);
}

void Model::maybe_finish(Job& job, TimePoint now, Effects& fx) {
  if (is_terminal(job.state)) return;
  bool all_done = true;
  for (Stage& s : job.stages) {
    if (!s.done()) {
      all_done = false;
    } else if (s.done_at == TimePoint{}) {
      s.done_at = now;
    }
  }
  if (!all_done) return;
  std::int64_t failed = job.failed_tasks();
  if (failed == 0) {
    finish_job(job, JobState::succeeded, "", now, fx);
  } else {
    finish_job(job, JobState::partial,
               fmt::format("{} task{} failed for good (max_failed_tasks {})", failed,
                           failed == 1 ? "" : "s", job.spec.max_failed_tasks),
               now, fx);
  }
}

void Model::give_up(Job& job, Task& task, const TaskKey& key, std::string why, TimePoint now,
                    Effects& fx) {
  if (job.failed_tasks() + 1 > job.spec.max_failed_tasks) {
    finish_job(job, JobState::failed, std::move(why), now, fx);
    return;
  }
  task.gave_up = true;
  ++job.stages[key.stage].failed;
  refresh(key);
  JobEvent event;
  event.type = "gave_up";
  event.stage = job.spec.stages[key.stage].name;
  event.index = key.index;
  event.message = std::move(why);
  record(job.id, std::move(event), now);
  maybe_finish(job, now, fx);
}

void Model::after_failure(Job& job, Task& task, Attempt& a, TimePoint now, Effects& fx) {
  const StageSpec& spec = job.spec.stages[a.task.stage];
  ++task.failures;
  const auto& no_retry = spec.no_retry_exit_codes;
  if (a.reason == FailureReason::exit_code &&
      std::find(no_retry.begin(), no_retry.end(), a.exit_code) != no_retry.end()) {
    give_up(job, task, a.task,
            fmt::format("task {}/{} exited {}, listed in no_retry_exit_codes", spec.name,
                        task.index, a.exit_code),
            now, fx);
    return;
  }
  if (task.failures >= spec.max_attempts) {
    give_up(job, task, a.task,
            fmt::format("task {}/{} failed {} times; last: {}", spec.name, task.index,
                        task.failures, a.message.empty() ? a.reason : a.message),
            now, fx);
    return;
  }
  Attempt& next = new_attempt(a.task, now);
  next.not_before = now + backoff_for(spec, task.failures);
}

void Model::lose(Attempt& a, std::string message, TimePoint now, Effects& fx) {
  a.reason = FailureReason::lost_worker;
  a.message = std::move(message);
  end_attempt(a, AttemptState::lost, now);
  fx.reschedule = true;
  Job& job = jobs_.at(a.task.job);
  Task& task = task_mut(a.task);
  if (is_terminal(job.state) || !task.output_digest.empty()) return;
  ++task.lost;
  if (has_other_active(task, a.id)) return;  // the other (speculative) copy goes on
  if (task.lost >= kMaxLostAttempts) {
    give_up(job, task, a.task,
            fmt::format("task {}/{} was lost {} times (its worker died each time)",
                        job.spec.stages[a.task.stage].name, task.index, task.lost),
            now, fx);
    return;
  }
  new_attempt(a.task, now);
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
    if (!job.stages[job.spec.stage_index(up)].done()) return false;
  }
  return true;
}

TimePoint Model::runnable_since(const Attempt& a) const {
  if (a.number > 1) return a.not_before;  // a retry: since its backoff ended or it was lost
  const Job& job = jobs_.at(a.task.job);
  TimePoint since = job.submitted_at;
  for (const std::string& up : job.spec.stages[a.task.stage].after) {
    TimePoint done = job.stages[job.spec.stage_index(up)].done_at;
    if (done == TimePoint{}) return TimePoint{};
    since = std::max(since, done);
  }
  return since;
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
  if (task.input_kind == "files") {
    std::size_t from = 0;
    while (from <= task.input.size()) {
      std::size_t end = std::min(task.input.find('\n', from), task.input.size());
      out.inputs.push_back(task.input.substr(from, end - from));
      from = end + 1;
    }
    out.input = out.inputs.front();
  }
  if (spec.partitions > 0) out.partition = task.index;
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
      if (t.output_digest.empty()) continue;  // gave up (max_failed_tasks): no output
      out.upstream.push_back(UpstreamOutput{up, t.index, t.output_digest});
    }
  }
  return out;
}

}  // namespace drover::master
