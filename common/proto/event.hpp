#pragma once
// A job's event log as the REST API shows it (GET /api/v1/jobs/{job}/events).
// Events are written in the same transaction as the state change they record,
// so the log never shows what the store does not hold, and survives restarts.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drover {

// Event types. Job: submitted, cancelled, job_succeeded, job_partial,
// job_failed. Attempt: assigned, started, finished (exited 0), failed, lost,
// killed, committed (its output became the task's). Task: gave_up (failed for
// good within max_failed_tasks), output_lost (lineage: it runs again), cached
// (a stage's tasks reused committed outputs).
struct JobEvent {
  std::int64_t seq = 0;   // cluster-wide order, assigned when stored; the ?after= cursor
  std::int64_t time = 0;  // ms since epoch
  std::string type;
  std::string stage;         // empty for job events
  std::int64_t index = -1;   // task index; -1 for job and stage events
  int attempt = 0;           // attempt number; 0 when not about one attempt
  std::string worker;
  std::string reason;   // FailureReason of failed, lost and killed attempts
  std::string message;  // e.g. "exit code 3", "speculative copy", the job's end message
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobEvent, seq, time, type, stage, index, attempt,
                                                worker, reason, message)

struct JobEventList {
  std::vector<JobEvent> events;  // oldest first
  std::string next;              // pass as ?after= for the next page; empty at the end
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobEventList, events, next)

}  // namespace drover
