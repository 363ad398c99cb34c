#pragma once
// Read-only projections of the Model into the REST wire types.
#include "common/proto/job.hpp"
#include "common/proto/task.hpp"
#include "common/proto/worker.hpp"
#include "master/model/model.hpp"

namespace drover::master {

JobInfo job_info(const Model& model, const Job& job, bool with_stages);
TaskInfo task_info(const Model& model, const Job& job, int stage, const Task& task);
AttemptInfo attempt_info(const Attempt& attempt);
WorkerInfo worker_info(const Worker& worker, TimePoint now);
ClusterInfo cluster_info(const Model& model);

}  // namespace drover::master
