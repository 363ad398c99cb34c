#pragma once
// Durable master state. The coordinator applies operations to the Model, takes
// a Snapshot of the rows they changed (cheap copies, on its strand) and hands
// it to write(), which persists it in one transaction on the store's writer
// thread (group commit: any number of operations per snapshot) while the
// strand goes on serving. Snapshots are written one at a time, in order.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.hpp"
#include "master/model/model.hpp"

namespace drover::master {

// Copies of the rows named by a Dirty set, as they were when it was taken.
struct Snapshot {
  std::optional<std::pair<std::int64_t, std::int64_t>> counters;  // next attempt id, next job seq
  std::vector<Job> jobs;  // job rows only: `stages` is left empty
  std::vector<std::pair<TaskKey, Task>> tasks;
  std::vector<Attempt> attempts;
  std::vector<Worker> workers;
  std::vector<std::pair<std::string, std::optional<CachedOutput>>> cache;  // nullopt: deleted
  std::vector<std::pair<JobId, JobEvent>> events;  // appended; seq is assigned by the store
  // Retention: deleted with their tasks and events; their attempts by id.
  std::vector<JobId> removed_jobs;
  std::vector<AttemptId> removed_attempts;
  bool empty() const {
    return !counters && jobs.empty() && tasks.empty() && attempts.empty() && workers.empty() &&
           cache.empty() && events.empty() && removed_jobs.empty() && removed_attempts.empty();
  }
};

Snapshot take_snapshot(const Model& model, const Dirty& dirty);

class Store {
 public:
  virtual ~Store() = default;
  // Persists a snapshot atomically. Called from one thread at a time.
  [[nodiscard]] virtual Status write(const Snapshot& snapshot) = 0;
  // Fills an empty model with everything stored, then calls model.rebuild().
  [[nodiscard]] virtual Status load(Model& model) = 0;
  // A job's committed events with seq > after, oldest first, at most `limit`.
  // Safe to call from another thread than write()'s, while it writes.
  [[nodiscard]] virtual Result<std::vector<JobEvent>> events(const JobId& job, std::int64_t after,
                                                             int limit) = 0;

  // write(take_snapshot(model, dirty)), for callers that own the thread.
  [[nodiscard]] Status save(const Model& model, const Dirty& dirty) {
    return write(take_snapshot(model, dirty));
  }
};

}  // namespace drover::master
