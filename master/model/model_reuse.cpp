// Committed outputs reused (`drover rerun`, `cache: true` stages) and lost (lineage).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs/fs.hpp"
#include "master/model/model.hpp"

namespace drover::master {

Result<const Job*> Model::rerun(const JobId& id, bool failed_only, TimePoint now) {
  const Job* old = job(id);
  if (!old) return make_error(ErrorCode::not_found, fmt::format("no job {}", id));
  if (failed_only && !is_terminal(old->state)) {
    return make_error(ErrorCode::conflict,
                      fmt::format("job {} is {}: --failed-only needs a job that has ended", id,
                                  to_string(old->state)));
  }
  NewJob nj;
  nj.spec = old->spec;
  nj.bundle_digest = old->bundle_digest;
  nj.user = old->user;
  nj.source = old->source;
  for (const Stage& st : old->stages) {
    auto& inputs = nj.stage_inputs.emplace_back();
    for (const Task& t : st.tasks) inputs.emplace_back(t.input_kind, t.input);
  }
  const JobId old_id = old->id;
  Job& fresh = jobs_.at(submit(std::move(nj), now).id);
  fresh.rerun_of = old_id;
  const Job& prev = jobs_.at(old_id);
  std::vector<bool> clean(prev.stages.size(), false);  // every task of the stage is kept
  for (int s : topological_order(prev.spec)) {
    bool upstream_clean = true;
    for (const std::string& up : prev.spec.stages[s].after) {
      upstream_clean = upstream_clean && clean[prev.spec.stage_index(up)];
    }
    std::int64_t kept = 0;
    for (std::size_t i = 0; i < prev.stages[s].tasks.size(); ++i) {
      const Task& t = prev.stages[s].tasks[i];
      Task& nt = fresh.stages[s].tasks[i];
      nt.cache_base = t.cache_base;
      if (failed_only && upstream_clean && !t.output_digest.empty()) {
        commit_output(fresh, TaskKey{fresh.id, s, t.index}, t.output_digest, t.output_bytes, true);
        ++kept;
      }
    }
    clean[s] = upstream_clean && kept == static_cast<std::int64_t>(prev.stages[s].tasks.size());
    if (kept > 0) record_cached(fresh, s, kept, fmt::format("committed outputs of {}", old_id), now);
  }
  Effects none;  // a new job has no attempts to kill
  maybe_finish(fresh, now, none);
  return &fresh;
}

std::string Model::cache_key(const Job& job, int s, const Task& task) const {
  nlohmann::json upstream = nlohmann::json::array();
  for (const std::string& up : job.spec.stages[s].after) {
    for (const Task& t : job.stages[job.spec.stage_index(up)].tasks) {
      upstream.push_back(t.output_digest);
    }
  }
  return sha256_hex(nlohmann::json{{"base", task.cache_base}, {"upstream", upstream}}.dump());
}

bool Model::resolve_cached(TimePoint now, const OutputExists& exists) {
  bool any = false;
  for (auto& [id, job] : jobs_) {
    if (is_terminal(job.state)) continue;
    for (int s = 0; s < static_cast<int>(job.stages.size()); ++s) {
      Stage& stage = job.stages[s];
      if (!job.spec.stages[s].cache || stage.cache_checked || !stage_ready(job, s)) continue;
      stage.cache_checked = true;
      std::int64_t hits = 0;
      for (std::int64_t index : std::vector<std::int64_t>(stage.pending.begin(), stage.pending.end())) {
        Task& task = stage.tasks[index];
        if (!task.attempts.empty() || !task.output_digest.empty()) continue;
        auto hit = cache_.find(cache_key(job, s, task));
        if (hit == cache_.end()) continue;
        if (!exists(hit->second.ref)) {  // gone (deleted, corrupt): forget it, run the task
          dirty_.cache.insert(hit->first);
          cache_.erase(hit);
          continue;
        }
        commit_output(job, TaskKey{job.id, s, index}, hit->second.ref, hit->second.bytes, true);
        ++hits;
      }
      if (hits > 0) record_cached(job, s, hits, "cached outputs", now);
      any = any || hits > 0;
    }
    Effects none;  // only pending tasks were resolved: nothing to kill
    if (any) maybe_finish(job, now, none);
  }
  return any;
}

bool Model::invalidate_output(const TaskKey& key, TimePoint now) {
  Job& job = jobs_.at(key.job);
  Task& task = task_mut(key);
  if (task.output_digest.empty()) return false;
  Stage& stage = job.stages[key.stage];
  if (task.cached && job.spec.stages[key.stage].cache) {
    // A cached output that is gone: forget every cache entry naming it.
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.ref == task.output_digest) {
        dirty_.cache.insert(it->first);
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
  }
  JobEvent event;
  event.type = "output_lost";
  event.stage = job.spec.stages[key.stage].name;
  event.index = key.index;
  event.message = is_terminal(job.state) ? "the job has ended: it is not run again"
                                          : "its task runs again";
  record(job.id, std::move(event), now);
  task.output_digest.clear();
  task.output_bytes = 0;
  task.cached = false;
  --stage.succeeded;
  stage.done_at = TimePoint{};
  if (is_terminal(job.state)) {
    refresh(key);
    return true;
  }
  new_attempt(key, now);
  return true;
}

}  // namespace drover::master
