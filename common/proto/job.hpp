#pragma once
// Jobs and their stages as the REST API shows them (GET /api/v1/jobs[/{job}]).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto/states.hpp"

namespace drover {

struct TaskFailure {
  std::string stage;
  std::int64_t index = 0;
  std::string input;
  std::string reason;   // FailureReason value of the last failed attempt
  std::string message;  // e.g. "exit code 3"
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TaskFailure, stage, index, input, reason, message)

struct StageInfo {
  std::string name;
  std::vector<std::string> after;
  std::int64_t task_count = 0;
  std::map<std::string, std::int64_t> counts;  // task state -> number of tasks
  std::vector<TaskFailure> failures;           // tasks failed for good, and recent failed attempts
  double progress = 0;                         // fraction of tasks succeeded (+ running progress)
  std::int64_t eta_ms = -1;  // estimated time to the stage's end; -1 unknown (nothing finished yet)
  std::int64_t started_at = 0;   // ms since epoch: its first attempt's start; 0 = not yet
  std::int64_t finished_at = 0;  // its last task's end, once every task is done; 0 = not yet
  double cpu_seconds = 0;        // cpu time of all its attempts that ended
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StageInfo, name, after, task_count, counts,
                                                failures, progress, eta_ms, started_at,
                                                finished_at, cpu_seconds)

struct JobInfo {
  std::string id;
  std::string name;
  JobState state = JobState::queued;
  std::int64_t priority = 0;
  std::string bundle_digest;
  std::string user;
  std::string source;  // client address of the submit
  std::int64_t submitted_at = 0;  // ms since epoch
  std::int64_t started_at = 0;    // 0 = not yet
  std::int64_t finished_at = 0;
  std::string message;  // why it failed or was cancelled
  std::int64_t task_count = 0;
  std::map<std::string, std::int64_t> counts;  // over all stages
  std::vector<StageInfo> stages;               // in spec order; empty in list views
  std::vector<TaskFailure> failed_tasks;       // failed for good (max_failed_tasks); job views only
  std::string rerun_of;                        // the job this one reruns (`drover rerun`)
  double cpu_seconds = 0;                      // cpu time of all its attempts that ended
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobInfo, id, name, state, priority, bundle_digest,
                                                user, source, submitted_at, started_at,
                                                finished_at, message, task_count, counts, stages,
                                                failed_tasks, rerun_of, cpu_seconds)

struct JobList {
  std::vector<JobInfo> jobs;
  std::string next;  // pass as ?after= for the next page; empty at the end
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobList, jobs, next)

}  // namespace drover
