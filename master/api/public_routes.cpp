#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
#include "master/api/bundle_intake.hpp"
#include "master/api/lookup.hpp"
#include "master/api/openapi.hpp"
#include "master/api/routes.hpp"
#include "master/model/views.hpp"

namespace drover::master {

namespace {

using http::Request;
using http::Respond;
using http::Response;

Result<Response> list_jobs(const Coordinator& co, const Request& req) {
  auto limit = query_int(req, "limit", 100, 1, 1000);
  if (!limit.ok()) return limit.error();
  std::optional<JobState> state;
  if (!req.query_or("state").empty()) {
    state = job_state_from_string(req.query_or("state"));
    if (!state) return make_error(ErrorCode::invalid_argument, "unknown job state", "state");
  }
  std::vector<const Job*> jobs;
  for (const auto& [id, job] : co.model().jobs()) {
    if (!state || job.state == *state) jobs.push_back(&job);
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job* a, const Job* b) { return a->seq > b->seq; });
  // The cursor names a job; the page holds the jobs submitted before it, even
  // when the cursor's own state no longer matches the filter.
  const std::string after = req.query_or("after");
  const Job* cursor = after.empty() ? nullptr : co.model().job(after);
  if (!after.empty() && !cursor) {
    return make_error(ErrorCode::invalid_argument, fmt::format("no job {} to page after", after),
                      "after");
  }
  JobList out;
  for (const Job* job : jobs) {
    if (cursor && job->seq >= cursor->seq) continue;
    if (static_cast<std::int64_t>(out.jobs.size()) == *limit) {
      out.next = out.jobs.back().id;
      break;
    }
    out.jobs.push_back(job_info(co.model(), *job, false));
  }
  return Response::json(200, out);
}

// Workers by id, a page at a time: ?limit= (default 1000), ?after=<worker id>;
// `next` is the cursor of the following page when there is one.
Result<Response> list_workers(const Coordinator& co, const Request& req) {
  auto limit = query_int(req, "limit", 1000, 1, 10000);
  if (!limit.ok()) return limit.error();
  const std::string after = req.query_or("after");
  const auto& workers = co.model().workers();
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json out = nlohmann::json::object();
  for (auto it = after.empty() ? workers.begin() : workers.upper_bound(after); it != workers.end(); ++it) {
    if (static_cast<std::int64_t>(list.size()) == *limit) {
      out["next"] = list.back()["id"];
      break;
    }
    list.push_back(worker_info(it->second, co.now()));
  }
  out["workers"] = std::move(list);
  return Response::json(200, out);
}

// The position (stage number, task index) a "stage/index" cursor names; before
// every task when `after` is empty. invalid_argument for a task the job lacks.
Result<std::pair<int, std::int64_t>> task_cursor(const Job& job, const std::string& after) {
  if (after.empty()) return std::make_pair(-1, std::int64_t{-1});
  auto bad = make_error(ErrorCode::invalid_argument,
                        fmt::format("no task {} to page after (want stage/index)", after), "after");
  const std::size_t slash = after.rfind('/');
  if (slash == std::string::npos) return bad;
  const int s = job.spec.stage_index(after.substr(0, slash));
  std::int64_t i = -1;
  const char* end = after.data() + after.size();
  auto [p, ec] = std::from_chars(after.data() + slash + 1, end, i);
  if (s < 0 || ec != std::errc{} || p != end || i < 0 ||
      i >= static_cast<std::int64_t>(job.stages[s].tasks.size())) {
    return bad;
  }
  return std::make_pair(s, i);
}

Result<Response> list_tasks(const Coordinator& co, const Request& req) {
  auto job = find_job(co, req.param("job"));
  if (!job.ok()) return job.error();
  auto limit = query_int(req, "limit", 1000, 1, 10000);
  if (!limit.ok()) return limit.error();
  std::string stage = req.query_or("stage");
  if (!stage.empty() && (*job)->spec.stage_index(stage) < 0) {
    return make_error(ErrorCode::not_found, fmt::format("no stage {}", stage), "stage");
  }
  std::optional<TaskState> state;
  if (!req.query_or("state").empty()) {
    state = attempt_state_from_string(req.query_or("state"));
    if (!state) return make_error(ErrorCode::invalid_argument, "unknown task state", "state");
  }
  auto cursor = task_cursor(**job, req.query_or("after"));
  if (!cursor.ok()) return cursor.error();
  TaskList out;
  for (int s = 0; s < static_cast<int>((*job)->stages.size()); ++s) {
    const std::string& name = (*job)->spec.stages[s].name;
    if (!stage.empty() && name != stage) continue;
    for (const Task& t : (*job)->stages[s].tasks) {
      if (std::make_pair(s, t.index) <= *cursor) continue;
      if (state && t.state != *state) continue;
      if (static_cast<std::int64_t>(out.tasks.size()) == *limit) {
        out.next = fmt::format("{}/{}", out.tasks.back().stage, out.tasks.back().index);
        return Response::json(200, out);
      }
      out.tasks.push_back(task_info(co.model(), **job, s, t));
    }
  }
  return Response::json(200, out);
}

}  // namespace

void add_log_route(http::Router& router, Coordinator& co, const ApiOptions& options);
void add_event_route(http::Router& router, Coordinator& co);

void add_public_routes(http::Router& router, Coordinator& co, const ApiOptions& options) {
  router.add("GET", "/healthz", [](Request&) -> Result<Response> {
    return Response::json(200, {{"status", "ok"}});
  });
  router.add("GET", "/readyz", [](Request&) -> Result<Response> {
    return Response::json(200, {{"status", "ready"}});
  });
  router.add_async("POST", "/api/v1/jobs", [&co, options](Request& req, Respond respond) {
    SubmitOverrides ov;
    if (!req.query_or("name").empty()) ov.name = req.query_or("name");
    if (!req.query_or("priority").empty()) {
      auto p = query_int(req, "priority", 0, -1'000'000, 1'000'000);
      if (!p.ok()) return respond(Response::error(p.error()));
      ov.priority = *p;
    }
    ArchiveLimits limits;
    limits.max_total_bytes = options.max_bundle_size * 4;
    auto job = resolve_bundle(req.body, ov, limits);
    if (!job.ok()) return respond(Response::error(job.error()));
    job->bundle_digest = sha256_hex(req.body);
    job->source = req.remote;
    job->user = req.user;
    if (Status s = co.blobs().put(job->bundle_digest, req.body); !s.ok()) {
      return respond(Response::error(s.error()));
    }
    co.submit(std::move(*job), [&co, respond](Result<JobId> id) {
      if (!id.ok()) return respond(Response::error(id.error()));
      respond(Response::json(201, job_info(co.model(), *co.model().job(*id), true)));
    });
  });
  router.add("GET", "/api/v1/jobs", [&co](Request& req) { return list_jobs(co, req); });
  router.add("GET", "/api/v1/jobs/{job}", [&co](Request& req) -> Result<Response> {
    auto job = find_job(co, req.param("job"));
    if (!job.ok()) return job.error();
    return Response::json(200, job_info(co.model(), **job, true));
  });
  router.add("GET", "/api/v1/jobs/{job}/tasks", [&co](Request& req) { return list_tasks(co, req); });
  router.add("GET", "/api/v1/jobs/{job}/tasks/{stage}/{index}/output",
             [&co](Request& req) -> Result<Response> {
               auto ref = find_task(co, req);
               if (!ref.ok()) return ref.error();
               if (ref->task->output_digest.empty()) {
                 return make_error(ErrorCode::not_found, "the task has no committed output yet");
               }
               const std::string& out = ref->task->output_digest;
               if (is_shared_ref(out)) {  // a directory on the shared store: tar it now
                 if (!co.output_exists(out)) {
                   return make_error(ErrorCode::not_found, "the committed output is gone");
                 }
                 auto packed = pack_directory(co.shared_root() / shared_ref_path(out));
                 if (!packed.ok()) return packed.error();
                 return Response::text(200, std::move(*packed), "application/gzip");
               }
               auto data = co.blobs().get(out);
               if (!data.ok()) return data.error();
               return Response::text(200, std::move(*data), "application/gzip");
             });
  router.add_async("POST", "/api/v1/jobs/{job}/rerun", [&co](Request& req, Respond respond) {
    std::string failed_only = req.query_or("failed_only");
    if (!failed_only.empty() && failed_only != "0" && failed_only != "1" &&
        failed_only != "true" && failed_only != "false") {
      return respond(Response::error(
          make_error(ErrorCode::invalid_argument, "must be 1 or 0", "failed_only")));
    }
    if (auto job = find_job(co, req.param("job")); !job.ok()) {
      return respond(Response::error(job.error()));
    }
    co.rerun(req.param("job"), failed_only == "1" || failed_only == "true",
             [&co, respond](Result<JobId> id) {
               if (!id.ok()) return respond(Response::error(id.error()));
               respond(Response::json(201, job_info(co.model(), *co.model().job(*id), true)));
             });
  });
  router.add_async("POST", "/api/v1/jobs/{job}/cancel", [&co](Request& req, Respond respond) {
    if (auto job = find_job(co, req.param("job")); !job.ok()) {
      return respond(Response::error(job.error()));
    }
    co.cancel(req.param("job"), [&co, respond](Result<JobId> id) {
      if (!id.ok()) return respond(Response::error(id.error()));
      respond(Response::json(200, job_info(co.model(), *co.model().job(*id), true)));
    });
  });
  router.add("GET", "/api/v1/workers", [&co](Request& req) -> Result<Response> {
    return list_workers(co, req);
  });
  router.add_async("POST", "/api/v1/workers/{id}/drain", [&co](Request& req, Respond respond) {
    co.drain(req.param("id"), [&co, respond](Result<WorkerId> id) {
      if (!id.ok()) return respond(Response::error(id.error()));
      respond(Response::json(200, worker_info(*co.model().worker(*id), co.now())));
    });
  });
  router.add("GET", "/api/v1/cluster", [&co, options](Request&) -> Result<Response> {
    ClusterInfo info = cluster_info(co.model());
    if (options.bytes_received) info.bytes_received = options.bytes_received->load();
    return Response::json(200, info);
  });
  router.add("GET", "/api/v1/openapi.json", [](Request&) -> Result<Response> {
    return Response::text(200, std::string(openapi_json()), "application/json");
  });
  router.add("GET", "/metrics", [&co, options](Request&) -> Result<Response> {
    MasterMetrics::ServerCounters server;
    if (options.bytes_received) server.bytes_received = options.bytes_received->load();
    if (options.loop) server.loop_pauses = options.loop->pauses();
    return Response::text(200, co.metrics().render(co.model(), server),
                          "text/plain; version=0.0.4; charset=utf-8");
  });
  add_log_route(router, co, options);
  add_dashboard_route(router);
  add_event_route(router, co);
}

}  // namespace drover::master
