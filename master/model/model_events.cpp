// The job event log: what the Model records as it changes state. Events go
// out with the next snapshot, in the same transaction as the change.
#include <fmt/format.h>

#include "master/model/model.hpp"

namespace drover::master {

void Model::record(const JobId& job, JobEvent event, TimePoint at) {
  event.time = to_millis(at);
  dirty_.events.emplace_back(job, std::move(event));
}

void Model::record(const Attempt& a, std::string type, TimePoint at, std::string message) {
  JobEvent event;
  event.type = std::move(type);
  event.stage = jobs_.at(a.task.job).spec.stages[a.task.stage].name;
  event.index = a.task.index;
  event.attempt = a.number;
  event.worker = a.worker;
  event.reason = a.reason;
  event.message = message.empty() ? a.message : std::move(message);
  record(a.task.job, std::move(event), at);
}

void Model::record_cached(const Job& job, int stage, std::int64_t tasks, const std::string& what,
                          TimePoint now) {
  JobEvent event;
  event.type = "cached";
  event.stage = job.spec.stages[stage].name;
  event.message = fmt::format("{} task{} reuse{} {}", tasks, tasks == 1 ? "" : "s",
                              tasks == 1 ? "s" : "", what);
  record(job.id, std::move(event), now);
}

}  // namespace drover::master
