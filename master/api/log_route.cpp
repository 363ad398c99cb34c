// GET /api/v1/jobs/{job}/tasks/{stage}/{index}/logs?attempt=&stream=&offset=
// A finished attempt's logs come from the blob store; a running attempt's are
// fetched from its worker. Headers X-Drover-Attempt and X-Drover-Attempt-State
// tell a follower which attempt it reads and when to stop.
#include <limits>

#include <fmt/format.h>

#include "master/api/lookup.hpp"
#include "master/api/routes.hpp"

namespace drover::master {

namespace {

using http::Request;
using http::Respond;
using http::Response;

// The requested attempt (by number), else the latest one that was handed out.
const Attempt* pick_attempt(const Model& model, const Task& task, int number) {
  const Attempt* pick = nullptr;
  for (AttemptId id : task.attempts) {
    const Attempt& a = model.attempts().at(id);
    if (number > 0 ? a.number == number : a.state != AttemptState::pending) pick = &a;
  }
  if (!pick && number <= 0 && !task.attempts.empty()) pick = &model.attempts().at(task.attempts.back());
  return pick;
}

Response with_headers(Response r, const Attempt& a) {
  r.headers.emplace_back("X-Drover-Attempt", std::to_string(a.number));
  r.headers.emplace_back("X-Drover-Attempt-State", std::string(to_string(a.state)));
  return r;
}

}  // namespace

void add_log_route(http::Router& router, Coordinator& co, const ApiOptions& options) {
  auto handler = [&co, fetch = options.fetch_from_worker](Request& req, Respond respond) {
    auto ref = find_task(co, req);
    if (!ref.ok()) return respond(Response::error(ref.error()));
    std::string stream = req.query_or("stream", "stdout");
    if (stream != "stdout" && stream != "stderr") {
      return respond(Response::error(
          make_error(ErrorCode::invalid_argument, "must be stdout or stderr", "stream")));
    }
    auto attempt = query_int(req, "attempt", 0, 0, 1'000'000);  // 0 (the default): the latest
    if (!attempt.ok()) return respond(Response::error(attempt.error()));
    auto offset_or = query_int(req, "offset", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (!offset_or.ok()) return respond(Response::error(offset_or.error()));
    // follow=1 is accepted for SPEC §6: a follower polls again from the next
    // offset until X-Drover-Attempt-State is no longer assigned or running.
    auto follow = query_int(req, "follow", 0, 0, 1);
    if (!follow.ok()) return respond(Response::error(follow.error()));
    const int number = static_cast<int>(*attempt);
    const std::uint64_t offset = static_cast<std::uint64_t>(*offset_or);
    const Attempt* a = pick_attempt(co.model(), *ref->task, number);
    if (!a) {
      return respond(Response::error(make_error(ErrorCode::not_found, "no such attempt", "attempt")));
    }
    if (is_active(a->state) && fetch) {
      const Worker* w = co.model().worker(a->worker);
      std::string target = fmt::format("/internal/v1/attempts/{}/logs?stream={}&offset={}", a->id,
                                       stream, offset);
      Response empty = with_headers(Response::text(200, ""), *a);
      fetch(w ? w->address : "", w ? w->log_token : "", target, [respond, empty](Result<Response> r) {
        if (!r.ok() || r->status != 200) return respond(empty);  // ended meanwhile: poll again
        Response out = empty;
        out.body = std::move(r->body);
        respond(std::move(out));
      });
      return;
    }
    const std::string& digest = stream == "stdout" ? a->stdout_digest : a->stderr_digest;
    std::string body;
    if (!digest.empty()) {
      auto data = co.blobs().get(digest);
      if (!data.ok()) return respond(Response::error(data.error()));
      body = std::move(*data);
    }
    body = offset < body.size() ? body.substr(offset) : std::string();
    respond(with_headers(Response::text(200, std::move(body)), *a));
  };
  router.add_async("GET", "/api/v1/jobs/{job}/tasks/{stage}/{index}/logs", handler);
}

}  // namespace drover::master
