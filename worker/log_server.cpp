#include "worker/log_server.hpp"

#include <fmt/format.h>

#include <charconv>

#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

namespace {

Result<std::int64_t> parse_id(const std::string& text, const char* field) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad {} \"{}\"", field, text),
                      field);
  }
  return v;
}

}  // namespace

Result<http::Response> serve_log(const AttemptTable& table, const http::Request& request) {
  auto id = parse_id(request.param("attempt_id"), "attempt_id");
  if (!id.ok()) return id.error();
  const std::string stream = request.query_or("stream", "stdout");
  if (stream != "stdout" && stream != "stderr") {
    return make_error(ErrorCode::invalid_argument, "stream must be stdout or stderr", "stream");
  }
  auto offset = parse_id(request.query_or("offset", "0"), "offset");
  if (!offset.ok()) return offset.error();
  auto attempt = table.find(*id);
  if (!attempt) {
    return make_error(ErrorCode::not_found, fmt::format("attempt {} is not on this worker", *id));
  }
  const auto& path =
      stream == "stdout" ? attempt->paths().stdout_file : attempt->paths().stderr_file;
  // No file yet (the task has not started): an empty log. The task's user owns
  // the attempt dir: a log it replaced by a link or a fifo is not followed.
  std::uint64_t size = 0;
  auto chunk = read_task_file(path, static_cast<std::uint64_t>(*offset), kMaxLogChunk, &size);
  if (!chunk.ok()) return chunk.error();
  auto response = http::Response::text(200, std::move(*chunk));
  response.headers.emplace_back("X-Drover-Log-Size", std::to_string(size));
  return response;
}

void add_log_routes(http::Router& router, const AttemptTable& table) {
  router.add("GET", "/internal/v1/attempts/{attempt_id}/logs",
             [&table](http::Request& request) { return serve_log(table, request); });
}

std::string advertised_address(const std::string& bound, const std::string& hostname) {
  auto colon = bound.rfind(':');
  if (colon == std::string::npos) return bound;
  std::string host = bound.substr(0, colon);
  if (host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty()) {
    return hostname + bound.substr(colon);
  }
  return bound;
}

}  // namespace drover::worker
