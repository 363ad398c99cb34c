#include <charconv>

#include <fmt/format.h>

#include "common/fs/fs.hpp"
#include "common/proto/wire_json.hpp"
#include "master/api/routes.hpp"

namespace drover::master {

namespace {

using http::Request;
using http::Respond;
using http::Response;

Result<std::int64_t> int_param(const std::string& text, const char* what) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad {} \"{}\"", what, text), what);
  }
  return v;
}

constexpr Duration kMaxPoll = std::chrono::seconds(60);
constexpr std::size_t kMaxReportsPerBatch = 10000;

// A 200 with the hand-written JSON of `message`, or nlohmann's when that has
// strings that are not UTF-8 (its error handler replaces their bytes).
template <class T>
Response json_response(std::optional<std::string> text, const T& message) {
  if (!text) return Response::json(200, nlohmann::json(message));
  return Response::text(200, std::move(*text), "application/json");
}

// Adapts a coordinator reply to a response whose body `render` writes by hand.
template <class T>
std::function<void(Result<T>)> respond_wire(Respond respond, std::optional<std::string> (*render)(const T&)) {
  return [respond = std::move(respond), render](Result<T> r) {
    respond(r.ok() ? json_response(render(*r), *r) : Response::error(r.error()));
  };
}

// One batch of reports in flight: answered once every item has its result.
struct BatchReply {
  ReportBatchReply reply;
  std::size_t left = 0;
  Respond respond;
  void set(ReportResult& slot, std::int64_t id, const Result<Ok>& r) {
    slot.attempt_id = id;
    if (!r.ok()) {
      slot.status = http_status(r.error().code);
      slot.code = std::string(to_string(r.error().code));
      slot.message = r.error().message;
    }
    if (--left == 0) respond(json_response(report_batch_reply_json(reply), reply));
  }
};

void handle_batch(Coordinator& co, ReportBatch batch, Respond respond) {
  const std::size_t total = batch.started.size() + batch.finished.size();
  if (total > kMaxReportsPerBatch) {
    return respond(Response::error(make_error(
        ErrorCode::invalid_argument,
        fmt::format("{} reports in one request; at most {}", total, kMaxReportsPerBatch), "reports")));
  }
  if (total == 0) return respond(Response::json(200, nlohmann::json(ReportBatchReply{})));
  auto state = std::make_shared<BatchReply>();
  state->reply.started.resize(batch.started.size());
  state->reply.finished.resize(batch.finished.size());
  state->left = total;
  state->respond = std::move(respond);
  // Started first: a short task's two reports often travel together.
  for (std::size_t i = 0; i < batch.started.size(); ++i) {
    const StartedReport& r = batch.started[i];
    TimePoint at = r.started_at > 0 ? from_millis(r.started_at) : co.now();
    co.attempt_started(r.attempt_id, at, [state, i, id = r.attempt_id](Result<Ok> res) {
      state->set(state->reply.started[i], id, res);
    });
  }
  for (std::size_t i = 0; i < batch.finished.size(); ++i) {
    FinishedReport& r = batch.finished[i];
    co.attempt_finished(r.attempt_id, r.report, [state, i, id = r.attempt_id](Result<Ok> res) {
      state->set(state->reply.finished[i], id, res);
    });
  }
}

}  // namespace

void add_internal_routes(http::Router& router, Coordinator& co) {
  router.add_async("POST", "/internal/v1/workers/register", [&co](Request& req, Respond respond) {
    auto reg = parse_body<WorkerRegistration>(req.body);
    if (!reg.ok()) return respond(Response::error(reg.error()));
    co.register_worker(*reg, respond_json<RegistrationReply>(std::move(respond)));
  });
  router.add_async("POST", "/internal/v1/workers/{id}/heartbeat", [&co](Request& req, Respond respond) {
    auto hb = parse_heartbeat(req.body);
    if (!hb.ok()) return respond(Response::error(hb.error()));
    co.heartbeat(req.param("id"), *hb, respond_wire(std::move(respond), &heartbeat_reply_json));
  });
  router.add_async("GET", "/internal/v1/workers/{id}/work", [&co](Request& req, Respond respond) {
    auto wait = int_param(req.query_or("wait_ms", "20000"), "wait_ms");
    if (!wait.ok()) return respond(Response::error(wait.error()));
    Duration d = std::clamp<Duration>(Duration{*wait}, Duration{0}, kMaxPoll);
    std::string id = req.param("id");
    std::uint64_t poll = co.poll_work(id, d, respond_wire(std::move(respond), &work_reply_json));
    // A killed worker closes this connection at once: notice it without waiting for heartbeats.
    if (poll) req.on_disconnect([&co, id, poll] { co.poll_disconnected(id, poll); });
  });
  router.add_async("POST", "/internal/v1/attempts/{id}/started", [&co](Request& req, Respond respond) {
    auto id = int_param(req.param("id"), "attempt");
    if (!id.ok()) return respond(Response::error(id.error()));
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    std::int64_t at = body.is_object() ? body.value("started_at", std::int64_t{0}) : 0;
    TimePoint started = at > 0 ? from_millis(at) : co.now();
    co.attempt_started(*id, started, respond_json<Ok>(std::move(respond)));
  });
  router.add_async("POST", "/internal/v1/attempts/{id}/finished", [&co](Request& req, Respond respond) {
    auto id = int_param(req.param("id"), "attempt");
    if (!id.ok()) return respond(Response::error(id.error()));
    auto report = parse_body<AttemptReport>(req.body);
    if (!report.ok()) return respond(Response::error(report.error()));
    co.attempt_finished(*id, *report, respond_json<Ok>(std::move(respond)));
  });
  router.add_async("POST", "/internal/v1/attempts/reports", [&co](Request& req, Respond respond) {
    auto batch = parse_report_batch(req.body);
    if (!batch.ok()) return respond(Response::error(batch.error()));
    handle_batch(co, std::move(*batch), std::move(respond));
  });
  router.add_async("POST", "/internal/v1/attempts/{id}/checkpoint", [&co](Request& req, Respond respond) {
    auto id = int_param(req.param("id"), "attempt");
    if (!id.ok()) return respond(Response::error(id.error()));
    auto body = parse_body<CheckpointReport>(req.body);
    if (!body.ok()) return respond(Response::error(body.error()));
    co.attempt_checkpoint(*id, body->digest, respond_json<Ok>(std::move(respond)));
  });
  router.add_async("POST", "/internal/v1/workers/{id}/drain", [&co](Request& req, Respond respond) {
    co.drain(req.param("id"), [respond](Result<WorkerId> r) {
      respond(r.ok() ? Response::json(200, nlohmann::json::object()) : Response::error(r.error()));
    });
  });
  router.add_async("POST", "/internal/v1/workers/{id}/leave", [&co](Request& req, Respond respond) {
    co.leave(req.param("id"), respond_json<Ok>(std::move(respond)));
  });
  router.add("PUT", "/internal/v1/blobs/{digest}", [&co](Request& req) -> Result<Response> {
    DROVER_TRY(co.blobs().put(req.param("digest"), req.body));
    return Response::json(201, {{"digest", req.param("digest")}});
  });
  router.add("GET", "/internal/v1/blobs/{digest}", [&co](Request& req) -> Result<Response> {
    auto data = co.blobs().get(req.param("digest"));
    if (!data.ok()) return data.error();
    return Response::text(200, std::move(*data), "application/octet-stream");
  });
}

}  // namespace drover::master
