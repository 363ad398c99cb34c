// Loading the stored rows and deriving what is not stored.
#include "master/model/model.hpp"

namespace drover::master {

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
        ++s.counts[t.state];  // as stored; refresh() below moves it to the derived state
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
      for (Task& t : job.stages[s].tasks) {
        refresh(TaskKey{id, s, t.index});
        for (AttemptId aid : t.attempts) {
          const Attempt& a = attempts_.at(aid);
          Stage& st = job.stages[s];
          st.cpu_ms += a.cpu_ms;
          if (a.started_at != TimePoint{}) note_start(a);
          if (st.done() && a.finished_at > st.done_at) st.done_at = a.finished_at;
          if (a.state == AttemptState::succeeded && a.started_at != TimePoint{}) {
            job.stages[s].run_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               a.finished_at - a.started_at).count());
            job.stages[s].run_ms_sum += job.stages[s].run_ms.back();
          }
        }
      }
    }
  }
  dirty_ = Dirty{};  // derived state is not a change to persist
}

}  // namespace drover::master
