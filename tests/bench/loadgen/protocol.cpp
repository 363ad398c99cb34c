#include "tests/bench/loadgen/protocol.hpp"

#include <chrono>
#include <filesystem>

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/wire_json.hpp"

namespace drover::loadgen {

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);

double since_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

template <typename T>
Result<T> decode(const nlohmann::json& j, const char* what) {
  try {
    return j.get<T>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::unavailable, fmt::format("bad {} from master: {}", what, e.what()));
  }
}

// A reply read by wire_json; a bad one counts as an error.
template <typename T>
Result<T> counted(Result<T> read, Tally& tally) {
  if (!read.ok()) ++tally.errors;
  return read;
}

}  // namespace

void Tally::merge(const Tally& o) {
  requests += o.requests;
  errors += o.errors;
  poll.merge(o.poll);
  reports.merge(o.reports);
  upload.merge(o.upload);
  heartbeat.merge(o.heartbeat);
  other.merge(o.other);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

Result<EmptyOutput> make_empty_output() {
  std::error_code ec;
  auto dir = std::filesystem::temp_directory_path(ec) /
             fmt::format("drover-loadgen-{}-{}", ::getpid(), now_ms());
  if (!std::filesystem::create_directories(dir, ec)) {
    return make_error(ErrorCode::io, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  auto packed = pack_directory(dir);  // what the worker's pack of an empty output dir gives
  std::filesystem::remove_all(dir, ec);
  if (!packed.ok()) return packed.error();
  EmptyOutput out;
  out.digest = sha256_hex(*packed);
  out.bytes = std::move(*packed);
  return out;
}

Connection::Connection(std::string url, std::string token)
    : url_(std::move(url)), token_(std::move(token)) {}

Result<http::Response> Connection::send(std::string_view method, const std::string& target,
                                        std::string body, const char* type, Samples& samples,
                                        Tally& tally, double* latency_ms) {
  if (!client_) {
    http::ClientOptions options;
    options.timeout = kTimeout;
    options.bearer_token = token_;
    client_ = std::make_unique<http::Client>(url_, options);
  }
  ++tally.requests;
  auto t0 = std::chrono::steady_clock::now();
  auto response = client_->request(method, target, std::move(body), type);
  double ms = since_ms(t0);
  if (latency_ms) *latency_ms = ms;
  if (!response.ok()) {
    ++tally.errors;
    client_.reset();  // a fresh connection next time
    return response.error();
  }
  samples.add(ms);
  if (!response->ok()) {
    ++tally.errors;
    Error e = http::error_from_response(*response);
    e.code = error_code_from_http_status(response->status);
    return e;
  }
  return response;
}

Result<nlohmann::json> Connection::call_json(std::string_view method, const std::string& target,
                                             const nlohmann::json* body, Samples& samples,
                                             Tally& tally, double* latency_ms) {
  auto response = send(method, target, body ? body->dump() : std::string{},
                       body ? "application/json" : "", samples, tally, latency_ms);
  if (!response.ok()) return response.error();
  if (response->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(response->body, nullptr, false);
  if (j.is_discarded()) {
    ++tally.errors;
    return make_error(ErrorCode::unavailable, fmt::format("bad JSON from master for {}", target));
  }
  return j;
}

Result<RegistrationReply> Connection::register_worker(const WorkerRegistration& r, Tally& tally) {
  nlohmann::json body = r;
  auto j = call_json("POST", "/internal/v1/workers/register", &body, tally.other, tally);
  if (!j.ok()) return j.error();
  return decode<RegistrationReply>(*j, "registration reply");
}

Result<HeartbeatReply> Connection::heartbeat(const std::string& id, const Heartbeat& hb,
                                             Tally& tally, double* latency_ms) {
  nlohmann::json body = hb;
  auto target = fmt::format("/internal/v1/workers/{}/heartbeat", http::url_encode(id));
  auto j = call_json("POST", target, &body, tally.heartbeat, tally, latency_ms);
  if (!j.ok()) return j.error();
  return decode<HeartbeatReply>(*j, "heartbeat reply");
}

Result<WorkReply> Connection::poll_work(const std::string& id, std::int64_t wait_ms, Tally& tally) {
  auto target = fmt::format("/internal/v1/workers/{}/work?wait_ms={}", http::url_encode(id), wait_ms);
  auto response = send("GET", target, std::string{}, "", tally.poll, tally);
  if (!response.ok()) return response.error();
  if (response->body.empty()) return WorkReply{};
  return counted(parse_work_reply(response->body), tally);
}

Result<ReportBatchReply> Connection::reports(const ReportBatch& batch, Tally& tally) {
  // What a worker sends and reads: wire_json, as in worker/agent/http_master_api.cpp.
  auto response = send("POST", "/internal/v1/attempts/reports", report_batch_json(batch).value_or(
                           nlohmann::json(batch).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)),
                       "application/json", tally.reports, tally);
  if (!response.ok()) return response.error();
  return counted(parse_report_batch_reply(response->body), tally);
}

Status Connection::upload(const EmptyOutput& blob, Tally& tally) {
  auto r = send("PUT", "/internal/v1/blobs/" + blob.digest, blob.bytes, "application/gzip",
                tally.upload, tally);
  if (!r.ok()) return r.error();
  return ok_status();
}

Status Connection::get(const std::string& target, Tally& tally) {
  auto r = send("GET", target, {}, "", tally.other, tally);
  if (!r.ok()) return r.error();
  return ok_status();
}

}  // namespace drover::loadgen
