#pragma once
// Tasks and attempts as the REST API shows them (GET /api/v1/jobs/{job}/tasks).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto/states.hpp"

namespace drover {

struct AttemptInfo {
  std::int64_t id = 0;
  int number = 1;
  std::string worker;
  AttemptState state = AttemptState::pending;
  std::int64_t assigned_at = 0;  // ms since epoch
  std::int64_t started_at = 0;
  std::int64_t finished_at = 0;
  int exit_code = -1;
  int signal = 0;
  std::string reason;
  std::string message;
  double progress = -1;
  std::int64_t cpu_ms = 0;  // cpu time the task used (once it ended)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AttemptInfo, id, number, worker, state, assigned_at,
                                                started_at, finished_at, exit_code, signal, reason,
                                                message, progress, cpu_ms)

struct TaskInfo {
  std::string job;
  std::string stage;
  std::int64_t index = 0;
  std::string input;
  TaskState state = TaskState::pending;
  std::string output_digest;  // committed output; empty until committed
  std::uint64_t output_bytes = 0;
  std::string checkpoint_digest;      // newest saved checkpoint; empty = none
  bool cached = false;                // succeeded without running: a reused committed output
  std::vector<AttemptInfo> attempts;  // oldest first
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TaskInfo, job, stage, index, input, state,
                                                output_digest, output_bytes, checkpoint_digest,
                                                cached, attempts)

struct TaskList {
  std::vector<TaskInfo> tasks;
  std::string next;  // "stage/index" cursor for ?after=; empty at the end
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TaskList, tasks, next)

struct ClusterInfo {
  std::map<std::string, std::int64_t> workers;  // by state
  double cpus = 0;
  double cpus_used = 0;
  std::map<std::string, std::int64_t> jobs;   // by state
  std::map<std::string, std::int64_t> tasks;  // by state, over unfinished jobs
  std::uint64_t bytes_received = 0;  // HTTP request bytes the master has read since it started
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClusterInfo, workers, cpus, cpus_used, jobs, tasks,
                                                bytes_received)

}  // namespace drover
