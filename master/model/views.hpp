#pragma once
// Read-only projections of the Model into the REST wire types.
#include "common/proto/job.hpp"
#include "common/proto/task.hpp"
#include "common/proto/worker.hpp"
#include "master/model/model.hpp"

namespace drover::master {

JobInfo job_info(const Model& model, const Job& job, bool with_stages);
TaskInfo task_info(const Model& model, const Job& job, int stage, const Task& task);
// Estimated time left in a stage: the work left (tasks not done, less the
// progress of running ones) times the mean run time of its committed attempts,
// over the attempts running now. 0 when done; -1 before any task finished.
std::int64_t stage_eta_ms(const Stage& stage, double done);

AttemptInfo attempt_info(const Attempt& attempt);
WorkerInfo worker_info(const Worker& worker, TimePoint now);
ClusterInfo cluster_info(const Model& model);

}  // namespace drover::master
