// Retention: finished jobs older than `retention` leave the model (and, with the
// next snapshot, the store); what the remaining jobs still name is the set of
// blobs and shared outputs the coordinator's garbage collection must keep.
#include <algorithm>

#include "master/model/model.hpp"

namespace drover::master {

namespace {

// When the job ended; a stored job that ended before finished_at was recorded
// counts from its submission.
TimePoint ended_at(const Job& job) {
  return job.finished_at != TimePoint{} ? job.finished_at : job.submitted_at;
}

}  // namespace

std::vector<JobId> Model::expire_jobs(TimePoint now, Duration retention) {
  std::vector<JobId> expired;
  for (const auto& [id, job] : jobs_) {
    if (!is_terminal(job.state) || now - ended_at(job) < retention) continue;
    bool busy = false;  // an attempt still placed on a worker: wait until it ends
    for (const Stage& s : job.stages) {
      for (const Task& t : s.tasks) {
        for (AttemptId a : t.attempts) busy = busy || is_active(attempts_.at(a).state);
      }
    }
    if (!busy) expired.push_back(id);
  }
  if (expired.empty()) return expired;
  for (const JobId& id : expired) {
    Job& job = jobs_.at(id);
    for (const Stage& s : job.stages) {
      for (const Task& t : s.tasks) {
        for (AttemptId a : t.attempts) {
          release(attempts_.at(a));
          attempts_.erase(a);
          dirty_.attempts.erase(a);
          dirty_.removed_attempts.insert(a);
        }
      }
    }
    std::erase_if(dirty_.tasks, [&id](const TaskKey& k) { return k.job == id; });
    std::erase_if(dirty_.events, [&id](const auto& e) { return e.first == id; });
    dirty_.jobs.erase(id);
    dirty_.removed_jobs.insert(id);
    jobs_.erase(id);
  }
  // Cache entries are copies of task outputs: one whose output no remaining
  // task holds would keep a blob alive that nothing else names.
  std::set<std::string> held;
  for (const auto& [id, job] : jobs_) {
    for (const Stage& s : job.stages) {
      for (const Task& t : s.tasks) {
        if (!t.output_digest.empty()) held.insert(t.output_digest);
      }
    }
  }
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (held.count(it->second.ref) == 0) {
      dirty_.cache.insert(it->first);
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::set<std::string> Model::referenced_refs() const {
  std::set<std::string> refs;
  auto add = [&refs](const std::string& ref) {
    if (!ref.empty()) refs.insert(ref);
  };
  for (const auto& [id, job] : jobs_) {
    add(job.bundle_digest);
    for (const Stage& s : job.stages) {
      for (const Task& t : s.tasks) {
        add(t.output_digest);
        add(t.checkpoint_digest);
      }
    }
  }
  for (const auto& [id, a] : attempts_) {
    add(a.output_digest);
    add(a.stdout_digest);
    add(a.stderr_digest);
  }
  for (const auto& [key, out] : cache_) add(out.ref);
  return refs;
}

}  // namespace drover::master
