// GET /api/v1/jobs/{job}/events?after=&limit=: the job's durable event log,
// read from the store, so it shows only committed changes and outlives restarts.
#include <fmt/format.h>

#include "master/api/lookup.hpp"
#include "master/api/routes.hpp"

namespace drover::master {

void add_event_route(http::Router& router, Coordinator& co) {
  router.add("GET", "/api/v1/jobs/{job}/events", [&co](http::Request& req) -> Result<http::Response> {
    auto job = find_job(co, req.param("job"));
    if (!job.ok()) return job.error();
    auto limit = query_int(req, "limit", 1000, 1, 10000);
    if (!limit.ok()) return limit.error();
    auto after = query_int(req, "after", 0, 0, INT64_MAX);
    if (!after.ok()) return after.error();
    // One more than asked tells whether another page follows.
    auto events = co.events((*job)->id, *after, static_cast<int>(*limit) + 1);
    if (!events.ok()) return events.error();
    JobEventList out;
    out.events = std::move(*events);
    if (static_cast<std::int64_t>(out.events.size()) > *limit) {
      out.events.pop_back();
      out.next = std::to_string(out.events.back().seq);
    }
    return http::Response::json(200, out);
  });
}

}  // namespace drover::master
