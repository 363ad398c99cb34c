#include "master/store/store.hpp"

namespace drover::master {

namespace {

Job job_row(const Job& j) {
  Job row;  // every field but the stages (the tasks are rows of their own)
  row.id = j.id;
  row.seq = j.seq;
  row.spec = j.spec;
  row.state = j.state;
  row.bundle_digest = j.bundle_digest;
  row.user = j.user;
  row.source = j.source;
  row.submitted_at = j.submitted_at;
  row.started_at = j.started_at;
  row.finished_at = j.finished_at;
  row.message = j.message;
  row.rerun_of = j.rerun_of;
  return row;
}

}  // namespace

Snapshot take_snapshot(const Model& model, const Dirty& dirty) {
  Snapshot out;
  if (dirty.counters) out.counters = {model.next_attempt_id(), model.next_job_seq()};
  out.jobs.reserve(dirty.jobs.size());
  for (const JobId& id : dirty.jobs) out.jobs.push_back(job_row(*model.job(id)));
  out.tasks.reserve(dirty.tasks.size());
  for (const TaskKey& k : dirty.tasks) out.tasks.emplace_back(k, model.task(k));
  out.attempts.reserve(dirty.attempts.size());
  for (AttemptId id : dirty.attempts) out.attempts.push_back(*model.attempt(id));
  for (const WorkerId& id : dirty.workers) out.workers.push_back(*model.worker(id));
  for (const std::string& key : dirty.cache) {
    auto it = model.cache().find(key);
    out.cache.emplace_back(key, it == model.cache().end() ? std::nullopt
                                                          : std::optional<CachedOutput>(it->second));
  }
  out.events = dirty.events;
  out.removed_jobs.assign(dirty.removed_jobs.begin(), dirty.removed_jobs.end());
  out.removed_attempts.assign(dirty.removed_attempts.begin(), dirty.removed_attempts.end());
  return out;
}

}  // namespace drover::master
