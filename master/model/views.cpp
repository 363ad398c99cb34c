#include "master/model/views.hpp"

#include <optional>

#include <fmt/format.h>

namespace drover::master {

namespace {

std::int64_t ms_or_zero(TimePoint t) { return t == TimePoint{} ? 0 : to_millis(t); }

// Tasks failed for good, and tasks whose latest attempt failed and will retry.
std::optional<TaskFailure> last_failure(const Model& model, const std::string& stage,
                                        const Task& task) {
  for (auto it = task.attempts.rbegin(); it != task.attempts.rend(); ++it) {
    const Attempt& a = model.attempts().at(*it);
    if (a.state != AttemptState::failed && a.state != AttemptState::lost) continue;
    return TaskFailure{stage, task.index, task.input, a.reason,
                       a.message.empty() ? a.reason : a.message};
  }
  return std::nullopt;
}

}  // namespace

std::int64_t stage_eta_ms(const Stage& stage, double done) {
  const auto total = static_cast<double>(stage.tasks.size());
  const double left = total - done - static_cast<double>(stage.failed);
  if (left <= 0) return 0;
  if (stage.run_ms.empty()) return -1;
  const double mean_ms = static_cast<double>(stage.run_ms_sum) / static_cast<double>(stage.run_ms.size());
  const double parallel = std::max<double>(1, static_cast<double>(stage.active.size()));
  return static_cast<std::int64_t>(left * mean_ms / parallel);
}

AttemptInfo attempt_info(const Attempt& a) {
  AttemptInfo out;
  out.id = a.id;
  out.number = a.number;
  out.worker = a.worker;
  out.state = a.state;
  out.assigned_at = ms_or_zero(a.assigned_at);
  out.started_at = ms_or_zero(a.started_at);
  out.finished_at = ms_or_zero(a.finished_at);
  out.exit_code = a.exit_code;
  out.signal = a.signal;
  out.reason = a.reason;
  out.message = a.message;
  out.progress = a.progress;
  out.cpu_ms = a.cpu_ms;
  return out;
}

TaskInfo task_info(const Model& model, const Job& job, int stage, const Task& task) {
  TaskInfo out;
  out.job = job.id;
  out.stage = job.spec.stages[stage].name;
  out.index = task.index;
  out.input = task.input;
  out.state = task.state;
  out.output_digest = task.output_digest;
  out.output_bytes = task.output_bytes;
  out.checkpoint_digest = task.checkpoint_digest;
  out.cached = task.cached;
  for (AttemptId id : task.attempts) out.attempts.push_back(attempt_info(model.attempts().at(id)));
  return out;
}

JobInfo job_info(const Model& model, const Job& job, bool with_stages) {
  JobInfo out;
  out.id = job.id;
  out.name = job.spec.name;
  out.state = job.state;
  out.priority = job.spec.priority;
  out.bundle_digest = job.bundle_digest;
  out.user = job.user;
  out.source = job.source;
  out.submitted_at = ms_or_zero(job.submitted_at);
  out.started_at = ms_or_zero(job.started_at);
  out.finished_at = ms_or_zero(job.finished_at);
  out.message = job.message;
  out.rerun_of = job.rerun_of;
  // O(stages + tasks that are running or had trouble): counters are kept by the Model.
  for (std::size_t s = 0; s < job.stages.size(); ++s) {
    const StageSpec& spec = job.spec.stages[s];
    const Stage& stage = job.stages[s];
    StageInfo st;
    st.name = spec.name;
    st.after = spec.after;
    st.task_count = static_cast<std::int64_t>(stage.tasks.size());
    for (const auto& [state, n] : stage.counts) {
      st.counts[std::string(to_string(state))] += n;
      out.counts[std::string(to_string(state))] += n;
    }
    double done = static_cast<double>(stage.succeeded);
    for (std::int64_t index : stage.active) {
      const Task& t = stage.tasks[index];
      if (t.state != TaskState::running || t.attempts.empty()) continue;
      double p = model.attempts().at(t.attempts.back()).progress;
      if (p > 0 && p < 1) done += p;
    }
    st.progress = st.task_count ? done / static_cast<double>(st.task_count) : 1.0;
    st.eta_ms = stage_eta_ms(stage, done);
    st.started_at = ms_or_zero(stage.started_at);
    st.finished_at = stage.done() ? ms_or_zero(stage.done_at) : 0;
    st.cpu_seconds = static_cast<double>(stage.cpu_ms) / 1000;
    out.cpu_seconds += st.cpu_seconds;
    out.task_count += st.task_count;
    if (!with_stages) continue;
    for (std::int64_t index : stage.troubled) {
      const Task& t = stage.tasks[index];
      if (!t.gave_up && st.failures.size() >= 100) continue;
      auto failure = last_failure(model, spec.name, t);
      if (failure && st.failures.size() < 100) st.failures.push_back(*failure);
      if (t.gave_up) {
        out.failed_tasks.push_back(
            failure.value_or(TaskFailure{spec.name, t.index, t.input, "", "failed for good"}));
      }
    }
    out.stages.push_back(std::move(st));
  }
  return out;
}

WorkerInfo worker_info(const Worker& w, TimePoint now) {
  WorkerInfo out;
  out.id = w.id;
  out.address = w.address;
  out.state = w.state;
  out.cpus = w.cpus;
  out.cpus_used = slots_used(w);
  out.memory = w.memory;
  out.memory_used = w.memory_used;
  out.running = static_cast<int>(w.active.size());
  out.labels = w.labels;
  out.registered_at = ms_or_zero(w.registered_at);
  out.last_heartbeat_at = ms_or_zero(w.last_heartbeat_at);
  out.heartbeat_age_ms = (now - w.last_heartbeat_at).count();
  return out;
}

ClusterInfo cluster_info(const Model& model) {
  ClusterInfo out;
  for (const auto& [id, w] : model.workers()) {
    ++out.workers[std::string(to_string(w.state))];
    if (w.state == WorkerState::dead) continue;
    out.cpus += w.cpus;
    out.cpus_used += slots_used(w);
  }
  for (const auto& [id, job] : model.jobs()) {
    ++out.jobs[std::string(to_string(job.state))];
    if (is_terminal(job.state)) continue;
    for (const Stage& s : job.stages) {
      for (const auto& [state, n] : s.counts) out.tasks[std::string(to_string(state))] += n;
    }
  }
  return out;
}

}  // namespace drover::master
