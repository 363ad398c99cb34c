#include <fmt/format.h>

#include "common/http/client.hpp"
#include "common/proto/wire_json.hpp"
#include "worker/agent/master_api.hpp"

namespace drover::worker {

namespace {

constexpr Duration kRequestTimeout = std::chrono::seconds(30);
constexpr Duration kBlobTimeout = std::chrono::minutes(10);
constexpr std::size_t kMaxIdleClients = 16;

// Any non-2xx status as an Error whose code follows the status (404 -> not_found).
Error status_error(const http::Response& response) {
  Error e = http::error_from_response(response);
  e.code = error_code_from_http_status(response.status);
  return e;
}

template <typename T>
Result<T> parse_json(const nlohmann::json& j, const char* what) {
  try {
    return j.get<T>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::unavailable,
                      fmt::format("bad {} from master: {}", what, e.what()));
  }
}

// A reply read by wire_json: a bad one is the master's fault.
template <typename T>
Result<T> from_master(Result<T> read, const char* what) {
  if (read.ok()) return read;
  return make_error(ErrorCode::unavailable, fmt::format("bad {} from master: {}", what, read.error().message));
}

}  // namespace

// A client borrowed from the idle stack and returned when done.
struct HttpMasterApi::Lease {
  HttpMasterApi* api;
  std::unique_ptr<http::Client> client;
  bool reused = false;  // an idle keep-alive connection the master may have closed
  ~Lease() {
    if (!client) return;
    std::lock_guard lock(api->mu_);
    if (api->idle_.size() < kMaxIdleClients) api->idle_.push_back(std::move(client));
  }
};

HttpMasterApi::HttpMasterApi(std::string master_url, std::string bearer_token, std::string ca_file)
    : url_(std::move(master_url)),
      token_(std::move(bearer_token)),
      ca_file_(std::move(ca_file)),
      reports_([this](const ReportBatch& batch) { return send_reports(batch); }) {}

HttpMasterApi::~HttpMasterApi() = default;

HttpMasterApi::Lease HttpMasterApi::lease(bool reuse) {
  std::unique_ptr<http::Client> reused;
  if (reuse) {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      reused = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (reused) return Lease{this, std::move(reused), true};
  http::ClientOptions options;
  options.timeout = kRequestTimeout;
  options.bearer_token = token_;
  options.ca_file = ca_file_;
  return Lease{this, std::make_unique<http::Client>(url_, options)};
}

Result<http::Response> HttpMasterApi::send(std::string_view method, const std::string& target,
                                           const std::string& body, const std::string& type,
                                           Duration timeout) {
  auto l = lease();
  auto response = l.client->request(method, target, body, type, timeout);
  if (response.ok() || !l.reused) return response;
  // A reused connection may have been closed by the master while idle: one
  // more try on a fresh connection before reporting the master unreachable.
  l.client.reset();
  auto fresh = lease(/*reuse=*/false);
  return fresh.client->request(method, target, body, type, timeout);
}

Result<nlohmann::json> HttpMasterApi::call_json(std::string_view method, const std::string& target,
                                                const nlohmann::json* body, Duration timeout) {
  auto response = send(method, target, body ? body->dump() : std::string{},
                       body ? "application/json" : "", timeout);
  if (!response.ok()) return response.error();
  if (!response->ok()) return status_error(*response);
  if (response->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(response->body, nullptr, false);
  if (j.is_discarded()) {
    return make_error(ErrorCode::unavailable, fmt::format("bad JSON from master for {}", target));
  }
  return j;
}

Result<RegistrationReply> HttpMasterApi::register_worker(const WorkerRegistration& r) {
  nlohmann::json body = r;
  auto j = call_json("POST", "/internal/v1/workers/register", &body, Duration{0});
  if (!j.ok()) return j.error();
  return parse_json<RegistrationReply>(*j, "registration reply");
}

Result<WorkReply> HttpMasterApi::poll_work(const std::string& worker_id, Duration wait) {
  auto target = fmt::format("/internal/v1/workers/{}/work?wait_ms={}", http::url_encode(worker_id),
                            wait.count());
  auto response = send("GET", target, std::string{}, std::string{}, wait + std::chrono::seconds(15));
  if (!response.ok()) return response.error();
  if (!response->ok()) return status_error(*response);
  if (response->body.empty()) return WorkReply{};
  return from_master(parse_work_reply(response->body), "work reply");
}

Result<HeartbeatReply> HttpMasterApi::heartbeat(const std::string& worker_id, const Heartbeat& hb) {
  nlohmann::json body = hb;
  auto target = fmt::format("/internal/v1/workers/{}/heartbeat", http::url_encode(worker_id));
  auto j = call_json("POST", target, &body, std::chrono::seconds(10));
  if (!j.ok()) return j.error();
  return parse_json<HeartbeatReply>(*j, "heartbeat reply");
}

Status HttpMasterApi::attempt_started(std::int64_t attempt_id, TimePoint started_at) {
  return reports_.started(attempt_id, started_at);
}

Status HttpMasterApi::attempt_finished(std::int64_t attempt_id, const AttemptReport& report) {
  return reports_.finished(attempt_id, report);
}

Result<ReportBatchReply> HttpMasterApi::send_reports(const ReportBatch& batch) {
  if (!batch_endpoint_.load()) return send_reports_one_by_one(batch);
  std::string body = report_batch_json(batch).value_or(
      nlohmann::json(batch).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto response = send("POST", "/internal/v1/attempts/reports", body, "application/json", Duration{0});
  if (!response.ok()) return response.error();
  if (response->status == 404 || response->status == 405) {
    // A master older than the endpoint (it never answers 404 for a whole batch).
    batch_endpoint_.store(false);
    return send_reports_one_by_one(batch);
  }
  if (!response->ok()) return status_error(*response);
  return from_master(parse_report_batch_reply(response->body), "reports reply");
}

Result<ReportBatchReply> HttpMasterApi::send_reports_one_by_one(const ReportBatch& batch) {
  ReportBatchReply reply;
  auto one = [&](std::int64_t id, const char* what, const nlohmann::json& body) -> Result<ReportResult> {
    auto j = call_json("POST", fmt::format("/internal/v1/attempts/{}/{}", id, what), &body, Duration{0});
    ReportResult r;
    r.attempt_id = id;
    if (j.ok()) return r;
    if (j.error().code == ErrorCode::unavailable) return j.error();  // transport: all fail alike
    r.status = http_status(j.error().code);
    r.message = j.error().message;
    return r;
  };
  for (const StartedReport& s : batch.started) {
    auto r = one(s.attempt_id, "started", nlohmann::json{{"started_at", s.started_at}});
    if (!r.ok()) return r.error();
    reply.started.push_back(*r);
  }
  for (const FinishedReport& f : batch.finished) {
    auto r = one(f.attempt_id, "finished", nlohmann::json(f.report));
    if (!r.ok()) return r.error();
    reply.finished.push_back(*r);
  }
  return reply;
}

Status HttpMasterApi::attempt_checkpoint(std::int64_t attempt_id, const CheckpointReport& report) {
  nlohmann::json body = report;
  auto j = call_json("POST", fmt::format("/internal/v1/attempts/{}/checkpoint", attempt_id), &body,
                     Duration{0});
  if (!j.ok()) return j.error();
  return ok_status();
}

Status HttpMasterApi::drain_worker(const std::string& worker_id) {
  nlohmann::json body = nlohmann::json::object();
  auto target = fmt::format("/internal/v1/workers/{}/drain", http::url_encode(worker_id));
  auto j = call_json("POST", target, &body, std::chrono::seconds(10));
  if (!j.ok()) return j.error();
  return ok_status();
}

Status HttpMasterApi::leave(const std::string& worker_id) {
  nlohmann::json body = nlohmann::json::object();
  auto target = fmt::format("/internal/v1/workers/{}/leave", http::url_encode(worker_id));
  auto j = call_json("POST", target, &body, std::chrono::seconds(10));
  if (!j.ok()) return j.error();
  return ok_status();
}

Result<std::string> HttpMasterApi::fetch_blob(const std::string& digest) {
  auto response = send("GET", "/internal/v1/blobs/" + digest, {}, {}, kBlobTimeout);
  if (!response.ok()) return response.error();
  if (!response->ok()) return status_error(*response);
  return std::move(response->body);
}

Status HttpMasterApi::upload_blob(const std::string& digest, std::string content) {
  auto response =
      send("PUT", "/internal/v1/blobs/" + digest, content, "application/gzip", kBlobTimeout);
  if (!response.ok()) return response.error();
  if (!response->ok()) return status_error(*response);
  return ok_status();
}

}  // namespace drover::worker
