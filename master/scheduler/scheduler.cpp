#include "master/scheduler/scheduler.hpp"

#include <algorithm>
#include <limits>

namespace drover::master {

namespace {

constexpr double kEpsilon = 1e-9;

bool fits(const WorkerSlot& w, const Candidate& c) {
  return w.free_cpus + kEpsilon >= c.cpus && (c.memory == 0 || w.free_memory >= c.memory);
}

// In a busy worker's queue: the task must fit the worker once it is idle.
bool fits_queue(const WorkerSlot& w, const Candidate& c) {
  return w.queue_cpus + kEpsilon >= c.cpus && (c.memory == 0 || w.memory >= c.memory);
}

// Index of the best worker for `c` by `fit`, `room` (most room wins), or -1.
template <typename Fit, typename Room>
int choose(const std::vector<WorkerSlot>& workers, const Candidate& c, Fit fit, Room room) {
  int best = -1;
  bool best_avoided = true;
  for (int i = 0; i < static_cast<int>(workers.size()); ++i) {
    const WorkerSlot& w = workers[i];
    if (!fit(w, c)) continue;
    bool avoided = std::find(c.avoid.begin(), c.avoid.end(), w.id) != c.avoid.end();
    if (avoided && c.speculative) continue;
    if (best < 0 || (best_avoided && !avoided) ||
        (avoided == best_avoided && room(w) > room(workers[best]) + kEpsilon)) {
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
  auto free_cpus = [](const WorkerSlot& w) { return w.free_cpus; };
  auto queue_cpus = [](const WorkerSlot& w) { return w.queue_cpus; };
  std::vector<const Candidate*> left;  // fit no free cpus: queued if short
  auto any_free = [&] {
    return std::any_of(workers.begin(), workers.end(),
                       [](const WorkerSlot& w) { return w.free_cpus > kEpsilon; });
  };
  bool room = any_free();  // free cpus only shrink below
  for (const Candidate& c : view.candidates) {
    int i = room ? choose(workers, c, fits, free_cpus) : -1;
    if (i < 0) {
      if (c.queueable) left.push_back(&c);
      continue;
    }
    WorkerSlot& w = workers[i];
    w.free_cpus -= c.cpus;
    w.free_memory -= std::min(w.free_memory, c.memory);
    out.assignments.emplace_back(c.key, w.id);
    if (w.free_cpus <= kEpsilon) room = any_free();
  }
  for (const Candidate* c : left) {
    int i = choose(workers, *c, fits_queue, queue_cpus);
    if (i < 0) continue;
    workers[i].queue_cpus -= c->cpus;
    out.assignments.emplace_back(c->key, workers[i].id);
    ++out.queued;
  }
  return out;
}

bool short_tasks(const Stage& stage) {
  const auto runs = static_cast<std::int64_t>(stage.run_ms.size());
  return runs >= static_cast<std::int64_t>(kQueueMinRuns) &&
         stage.run_ms_sum <= kQueueMaxMeanRunMs * runs;
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

// Tasks with an active attempt in the job, for its max_running (SPEC: a cap on
// concurrently running tasks; a speculative copy does not count twice).
std::int64_t active_tasks(const Job& job) {
  std::int64_t n = 0;
  for (const Stage& stage : job.stages) n += static_cast<std::int64_t>(stage.active.size());
  return n;
}

// Room left under a cap (0 = none); huge when uncapped.
std::int64_t room(std::int64_t cap, std::int64_t used) {
  return cap <= 0 ? std::numeric_limits<std::int64_t>::max() : std::max<std::int64_t>(0, cap - used);
}

std::optional<Duration> median_run(const Stage& stage) {
  if (stage.run_ms.empty()) return std::nullopt;
  std::vector<std::int64_t> v = stage.run_ms;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return std::chrono::milliseconds(*mid);
}

// Speculative copies for the stragglers of one stage; sets *recheck when the
// stage is in its tail, so that plan() runs again while they keep running.
void add_speculative(const Model& model, const Job& job, int s, TimePoint now,
                     std::vector<Candidate>& out, bool* recheck) {
  const Stage& stage = job.stages[s];
  const auto total = static_cast<std::int64_t>(stage.tasks.size());
  const std::int64_t left = total - stage.succeeded - stage.failed;
  if (left <= 0 || !stage.pending.empty() || left > std::max<std::int64_t>(1, total / 10)) return;
  auto median = median_run(stage);
  if (!median) return;
  *recheck = true;
  const Duration limit = std::max(std::chrono::duration_cast<Duration>(*median * kSpeculationMultiplier),
                                  *median + kSpeculationMinExtra);
  const StageSpec& spec = job.spec.stages[s];
  for (std::int64_t index : stage.active) {
    const Task& task = stage.tasks[index];
    if (task.state != TaskState::running) continue;
    auto active = model.active_attempts(task);
    if (active.size() != 1 || active.front()->state != AttemptState::running) continue;
    if (now - active.front()->started_at <= limit) continue;
    out.push_back(Candidate{TaskKey{job.id, s, task.index}, spec.resources.cpus,
                            spec.resources.memory, {active.front()->worker}, true});
  }
}

}  // namespace

SchedulerView build_view(const Model& model, TimePoint now, std::size_t max_candidates) {
  SchedulerView view;
  double free_cpus = 0, queue_room = 0;
  for (const auto& [id, w] : model.workers()) {
    if (w.state != WorkerState::alive) continue;
    // Queued attempts are those beyond the worker's cpus.
    const double queued = std::max(0.0, w.cpus_used - w.cpus);
    const double room = std::max(0.0, w.cpus * kQueuePerCpu - queued);
    view.workers.push_back(WorkerSlot{id, w.cpus - w.cpus_used,
                                      w.memory > w.memory_used ? w.memory - w.memory_used : 0,
                                      room, w.memory});
    free_cpus += std::max(0.0, w.cpus - w.cpus_used);
    queue_room += room;
  }
  // Enough candidates to fill the free cpus twice over (room to backfill around
  // ones that fit nowhere), and once short tasks show up, the queues too: a
  // deep backlog costs a pass no more than a short one.
  double demand = 0, queueable_demand = 0;
  bool seen_queueable = false;
  bool cut = false;
  auto enough = [&] {
    return view.candidates.size() >= max_candidates ||
           (view.candidates.size() >= kMinCandidates && demand > 2 * free_cpus &&
            (!seen_queueable || queueable_demand > 2 * queue_room));
  };
  std::vector<Candidate> speculative;
  bool recheck = false;
  for (const Job* job : model.unfinished_jobs()) {
    if (cut) break;
    std::int64_t job_room = room(job->spec.max_running, active_tasks(*job));
    for (int s = 0; s < static_cast<int>(job->stages.size()) && job_room > 0 && !cut; ++s) {
      if (!model.stage_ready(*job, s)) continue;
      const StageSpec& spec = job->spec.stages[s];
      if (spec.cache && !job->stages[s].cache_checked) continue;  // resolve_cached() first
      const Stage& stage = job->stages[s];
      std::int64_t stage_room = std::min(
          job_room, room(spec.max_running, static_cast<std::int64_t>(stage.active.size())));
      const bool queueable = short_tasks(stage);
      for (std::int64_t index : stage.pending) {
        if (stage_room <= 0) break;
        const Task& task = stage.tasks[index];
        if (!runnable(model, task, now, &view.next_not_before)) continue;
        if (enough()) {
          cut = true;
          break;
        }
        view.candidates.push_back(Candidate{TaskKey{job->id, s, task.index}, spec.resources.cpus,
                                            spec.resources.memory, failed_on(model, task),
                                            false, queueable});
        demand += spec.resources.cpus;
        if (queueable) {
          seen_queueable = true;
          queueable_demand += spec.resources.cpus;
        }
        --stage_room;
        --job_room;
      }
      if (spec.speculation && stage_room > 0 && !cut) {
        add_speculative(model, *job, s, now, speculative, &recheck);
      }
    }
  }
  for (Candidate& c : speculative) {
    if (view.candidates.size() >= max_candidates) break;
    view.candidates.push_back(std::move(c));
  }
  // Tasks left out (and their backoffs) are looked at again soon.
  if (recheck || cut) {
    TimePoint at = now + kSpeculationRecheck;
    if (!view.next_not_before || at < *view.next_not_before) view.next_not_before = at;
  }
  return view;
}

}  // namespace drover::master
