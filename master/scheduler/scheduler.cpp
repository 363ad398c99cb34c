#include "master/scheduler/scheduler.hpp"

#include <algorithm>

namespace drover::master {

namespace {

constexpr double kEpsilon = 1e-9;

bool fits(const WorkerSlot& w, const Candidate& c) {
  return w.free_cpus + kEpsilon >= c.cpus && (c.memory == 0 || w.free_memory >= c.memory);
}

// Index of the best worker for `c`, or -1.
int choose(const std::vector<WorkerSlot>& workers, const Candidate& c) {
  int best = -1;
  bool best_avoided = true;
  for (int i = 0; i < static_cast<int>(workers.size()); ++i) {
    const WorkerSlot& w = workers[i];
    if (!fits(w, c)) continue;
    bool avoided = std::find(c.avoid.begin(), c.avoid.end(), w.id) != c.avoid.end();
    if (best < 0 || (best_avoided && !avoided) ||
        (avoided == best_avoided && w.free_cpus > workers[best].free_cpus + kEpsilon)) {
      best = i;
      best_avoided = avoided;
    }
  }
  return best;
}

}  // namespace

Plan plan(const SchedulerView& view, TimePoint now) {
  Plan out;
  out.wake_at = view.next_not_before;
  std::vector<WorkerSlot> workers = view.workers;
  std::sort(workers.begin(), workers.end(),
            [](const WorkerSlot& a, const WorkerSlot& b) { return a.id < b.id; });
  for (const Candidate& c : view.candidates) {
    bool any_free = std::any_of(workers.begin(), workers.end(),
                                [](const WorkerSlot& w) { return w.free_cpus > kEpsilon; });
    if (!any_free) break;
    int i = choose(workers, c);
    if (i < 0) continue;
    workers[i].free_cpus -= c.cpus;
    workers[i].free_memory -= std::min(workers[i].free_memory, c.memory);
    out.assignments.emplace_back(c.key, workers[i].id);
  }
  return out;
}

namespace {

// Whether the task can be assigned now; sets *later when it waits on a backoff.
bool runnable(const Model& model, const Task& task, TimePoint now, std::optional<TimePoint>* later) {
  if (task.state != TaskState::pending) return false;
  if (task.attempts.empty()) return true;
  const Attempt& a = model.attempts().at(task.attempts.back());
  if (a.not_before <= now) return true;
  if (!*later || a.not_before < **later) *later = a.not_before;
  return false;
}

std::vector<WorkerId> failed_on(const Model& model, const Task& task) {
  std::vector<WorkerId> out;
  for (AttemptId id : task.attempts) {
    const Attempt& a = model.attempts().at(id);
    if (a.state == AttemptState::failed) out.push_back(a.worker);
  }
  return out;
}

}  // namespace

SchedulerView build_view(const Model& model, TimePoint now, std::size_t max_candidates) {
  SchedulerView view;
  for (const auto& [id, w] : model.workers()) {
    if (w.state != WorkerState::alive) continue;
    view.workers.push_back(WorkerSlot{id, w.cpus - w.cpus_used,
                                      w.memory > w.memory_used ? w.memory - w.memory_used : 0});
  }
  for (const Job* job : model.unfinished_jobs()) {
    for (int s = 0; s < static_cast<int>(job->stages.size()); ++s) {
      if (!model.stage_ready(*job, s)) continue;
      const StageSpec& spec = job->spec.stages[s];
      for (const Task& task : job->stages[s].tasks) {
        if (!runnable(model, task, now, &view.next_not_before)) continue;
        if (view.candidates.size() >= max_candidates) return view;
        view.candidates.push_back(Candidate{TaskKey{job->id, s, task.index}, spec.resources.cpus,
                                            spec.resources.memory, failed_on(model, task)});
      }
    }
  }
  return view;
}

}  // namespace drover::master
