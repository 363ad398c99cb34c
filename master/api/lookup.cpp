#include "master/api/lookup.hpp"

#include <charconv>

#include <fmt/format.h>

namespace drover::master {

Result<std::int64_t> query_int(const http::Request& req, const std::string& key, std::int64_t fallback,
                               std::int64_t lo, std::int64_t hi) {
  std::string text = req.query_or(key);
  if (text.empty()) return fallback;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v < lo || v > hi) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("must be an integer from {} to {}", lo, hi), key);
  }
  return v;
}

Result<const Job*> find_job(const Coordinator& co, const std::string& id) {
  const Job* job = co.model().job(id);
  if (!job) return make_error(ErrorCode::not_found, fmt::format("no job {}", id), "job");
  return job;
}

Result<TaskRef> find_task(const Coordinator& co, const http::Request& req) {
  auto job = find_job(co, req.param("job"));
  if (!job.ok()) return job.error();
  int s = (*job)->spec.stage_index(req.param("stage"));
  if (s < 0) return make_error(ErrorCode::not_found, fmt::format("no stage {}", req.param("stage")), "stage");
  const auto& tasks = (*job)->stages[s].tasks;
  std::int64_t i = -1;
  const std::string& text = req.param("index");
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec != std::errc{} || p != text.data() + text.size() || i < 0 ||
      i >= static_cast<std::int64_t>(tasks.size())) {
    return make_error(ErrorCode::not_found, fmt::format("no task {}", text), "index");
  }
  return TaskRef{*job, s, &tasks[i]};
}

}  // namespace drover::master
