// Loading the stored rows and deriving what is not stored.
#include "master/model/model.hpp"

namespace drover::master {

void Model::load_counters(std::int64_t next_attempt_id, std::int64_t next_job_seq) {
  next_attempt_id_ = next_attempt_id;
  next_job_seq_ = next_job_seq;
}

Job& Model::load_job(Job job) {
  loading_ = nullptr;
  JobId id = job.id;
  return jobs_.insert_or_assign(id, std::move(job)).first->second;
}

void Model::load_task(const JobId& id, int stage, Task task) {
  // Rows come grouped by job: look the job up once per run of rows.
  if (!loading_ || loading_->id != id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    loading_ = &it->second;
  }
  if (stage < 0 || stage >= static_cast<int>(loading_->stages.size())) return;
  auto& tasks = loading_->stages[stage].tasks;
  if (task.index < 0) return;
  const auto index = static_cast<std::size_t>(task.index);
  if (index == tasks.size()) {  // rows come in index order
    tasks.push_back(std::move(task));
    return;
  }
  if (tasks.size() <= index) tasks.resize(index + 1);
  tasks[index] = std::move(task);
}

void Model::reserve_tasks(const JobId& id, int stage, std::size_t count) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || stage < 0 || stage >= static_cast<int>(it->second.stages.size())) return;
  it->second.stages[stage].tasks.reserve(count);
}

void Model::load_attempt(Attempt attempt) { attempts_.emplace(attempt.id, std::move(attempt)); }

void Model::load_worker(Worker worker) { workers_.emplace(worker.id, std::move(worker)); }

void Model::load_cache(std::string key, CachedOutput out) { cache_.emplace(std::move(key), std::move(out)); }

void Model::rebuild() {
  for (auto& [id, job] : jobs_) {
    for (Stage& s : job.stages) {
      s.succeeded = 0;
      s.failed = 0;
      s.pending.clear();
      s.active.clear();
      s.troubled.clear();
      s.counts.clear();
      s.run_ms.clear();
      s.run_ms_sum = 0;
      s.cpu_ms = 0;
      s.started_at = TimePoint{};
      s.done_at = TimePoint{};
      for (Task& t : s.tasks) {
        t.attempts.clear();
        if (!t.output_digest.empty()) {
          ++s.succeeded;
        } else if (t.gave_up) {
          ++s.failed;
        }
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
  for (auto& [id, job] : jobs_) {
    for (int s = 0; s < static_cast<int>(job.stages.size()); ++s) {
      Stage& st = job.stages[s];
      for (Task& t : st.tasks) {
        // What refresh() derives, without its per-task lookups and dirty marks:
        // indices ascend, so the sets grow at their end.
        t.state = derived_state(t);
        ++st.counts[t.state];
        if (t.state == TaskState::pending) st.pending.insert(st.pending.end(), t.index);
        if (is_active(t.state)) st.active.insert(st.active.end(), t.index);
        if (troubled(t)) st.troubled.insert(st.troubled.end(), t.index);
        for (AttemptId aid : t.attempts) {
          const Attempt& a = attempts_.at(aid);
          st.cpu_ms += a.cpu_ms;
          if (a.started_at != TimePoint{}) note_start(a);
          if (st.done() && a.finished_at > st.done_at) st.done_at = a.finished_at;
          if (a.state == AttemptState::succeeded && a.started_at != TimePoint{}) {
            st.run_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    a.finished_at - a.started_at).count());
            st.run_ms_sum += st.run_ms.back();
          }
        }
      }
    }
  }
  loading_ = nullptr;
  dirty_ = Dirty{};  // derived state is not a change to persist
}

}  // namespace drover::master
