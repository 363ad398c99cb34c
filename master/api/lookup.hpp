#pragma once
// Path parameter lookups shared by the route files.
#include <string>

#include "common/http/http.hpp"
#include "master/coordinator/coordinator.hpp"

namespace drover::master {

// ?key= as an integer in [lo, hi]; `fallback` when absent; invalid_argument naming key otherwise.
Result<std::int64_t> query_int(const http::Request& req, const std::string& key,
                               std::int64_t fallback, std::int64_t lo, std::int64_t hi);

Result<const Job*> find_job(const Coordinator& co, const std::string& id);

struct TaskRef {
  const Job* job;
  int stage;
  const Task* task;
};
// From the {job}, {stage} and {index} path parameters.
Result<TaskRef> find_task(const Coordinator& co, const http::Request& req);

}  // namespace drover::master
