#include "cli/client/http_master_api.hpp"

#include <charconv>

namespace drover::cli {

namespace {

// Bundles and outputs can be large; the default 30 s would cut them off.
constexpr Duration kTransferTimeout = std::chrono::minutes(30);

std::string trim_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

http::ClientOptions client_options(const MasterConnection& connection) {
  http::ClientOptions options;
  options.bearer_token = connection.token;
  options.ca_file = connection.ca_file;
  return options;
}

std::string job_path(const std::string& job) { return "/api/v1/jobs/" + http::url_encode(job); }

std::string task_path(const std::string& job, const std::string& stage, std::int64_t index) {
  return job_path(job) + "/tasks/" + http::url_encode(stage) + "/" + std::to_string(index);
}

// Appends "key=value" to a query string being built ("" or "?a=b&...").
void add_query(std::string& target, std::string_view key, std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += http::url_encode(value);
}

template <typename T>
Result<T> decode(const std::string& body) {
  try {
    return nlohmann::json::parse(body).get<T>();
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::internal,
                      std::string("unexpected answer from master: ") + e.what());
  }
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

HttpMasterApi::HttpMasterApi(const MasterConnection& connection)
    : client_(trim_trailing_slash(connection.url), client_options(connection)) {}

Result<http::Response> HttpMasterApi::send(std::string_view method, const std::string& target,
                                           std::string body, std::string content_type,
                                           Duration timeout) {
  auto response =
      client_.request(method, target, std::move(body), std::move(content_type), timeout);
  if (!response) return response.error();
  if (!response->ok()) return http::error_from_response(*response);
  return response;
}

Result<JobInfo> HttpMasterApi::submit_job(std::string bundle, const SubmitParams& params) {
  std::string target = "/api/v1/jobs";
  if (params.name) add_query(target, "name", *params.name);
  if (params.priority) add_query(target, "priority", std::to_string(*params.priority));
  auto response = send("POST", target, std::move(bundle), "application/gzip", kTransferTimeout);
  if (!response) return response.error();
  return decode<JobInfo>(response->body);
}

Result<JobList> HttpMasterApi::list_jobs(const std::string& after) {
  std::string target = "/api/v1/jobs";
  if (!after.empty()) add_query(target, "after", after);
  auto response = send("GET", target);
  if (!response) return response.error();
  return decode<JobList>(response->body);
}

Result<JobInfo> HttpMasterApi::get_job(const std::string& job) {
  auto response = send("GET", job_path(job));
  if (!response) return response.error();
  return decode<JobInfo>(response->body);
}

Result<TaskList> HttpMasterApi::list_tasks(const std::string& job, const TaskFilter& filter,
                                           const std::string& after) {
  std::string target = job_path(job) + "/tasks";
  if (!filter.stage.empty()) add_query(target, "stage", filter.stage);
  if (!filter.state.empty()) add_query(target, "state", filter.state);
  if (!after.empty()) add_query(target, "after", after);
  auto response = send("GET", target);
  if (!response) return response.error();
  return decode<TaskList>(response->body);
}

Result<JobEventList> HttpMasterApi::list_events(const std::string& job, std::int64_t after) {
  std::string target = job_path(job) + "/events";
  if (after > 0) add_query(target, "after", std::to_string(after));
  auto response = send("GET", target);
  if (!response) return response.error();
  return decode<JobEventList>(response->body);
}

Result<LogChunk> HttpMasterApi::read_logs(const LogQuery& query) {
  std::string target = task_path(query.job, query.stage, query.index) + "/logs";
  add_query(target, "stream", query.stderr_stream ? "stderr" : "stdout");
  add_query(target, "offset", std::to_string(query.offset));
  if (query.attempt) add_query(target, "attempt", std::to_string(*query.attempt));
  auto response = send("GET", target);
  if (!response) return response.error();
  LogChunk chunk;
  chunk.data = std::move(response->body);
  chunk.attempt = parse_int(response->header("X-Drover-Attempt")).value_or(0);
  chunk.attempt_state = attempt_state_from_string(response->header("X-Drover-Attempt-State"));
  return chunk;
}

Result<std::string> HttpMasterApi::download_output(const std::string& job, const std::string& stage,
                                                   std::int64_t index) {
  auto response = send("GET", task_path(job, stage, index) + "/output", {}, {}, kTransferTimeout);
  if (!response) return response.error();
  return std::move(response->body);
}

Result<JobInfo> HttpMasterApi::cancel_job(const std::string& job) {
  auto response = send("POST", job_path(job) + "/cancel");
  if (!response) return response.error();
  return decode<JobInfo>(response->body);
}

Result<JobInfo> HttpMasterApi::rerun_job(const std::string& job, bool failed_only) {
  std::string target = job_path(job) + "/rerun";
  if (failed_only) add_query(target, "failed_only", "1");
  auto response = send("POST", target);
  if (!response) return response.error();
  return decode<JobInfo>(response->body);
}

Result<std::vector<WorkerInfo>> HttpMasterApi::list_workers() {
  std::vector<WorkerInfo> all;
  std::string after;
  for (;;) {  // every page
    std::string target = "/api/v1/workers";
    if (!after.empty()) add_query(target, "after", after);
    auto response = send("GET", target);
    if (!response) return response.error();
    auto body = decode<nlohmann::json>(response->body);
    if (!body) return body.error();
    try {
      auto page = body->at("workers").get<std::vector<WorkerInfo>>();
      all.insert(all.end(), page.begin(), page.end());
      if (!body->contains("next") || page.empty()) return all;
      after = body->at("next").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      return make_error(ErrorCode::internal,
                        std::string("unexpected answer from master: ") + e.what());
    }
  }
}

Result<nlohmann::json> HttpMasterApi::drain_worker(const std::string& worker) {
  auto response = send("POST", "/api/v1/workers/" + http::url_encode(worker) + "/drain");
  if (!response) return response.error();
  if (response->body.empty()) return nlohmann::json::object();
  return decode<nlohmann::json>(response->body);
}

Status HttpMasterApi::check_ready() {
  auto response = send("GET", "/readyz", {}, {}, std::chrono::seconds(2));
  if (!response) return response.error();
  return ok_status();
}

}  // namespace drover::cli
