#pragma once
// LogServer: serves the logs of attempts this worker holds, for the master to
// relay while they run:
//   GET /internal/v1/attempts/{attempt_id}/logs?stream=stdout|stderr&offset=N
//   -> 200 text/plain, bytes from offset (at most 1 MiB),
//      header X-Drover-Log-Size: current size of the whole log
//   -> 404 for an attempt not held here.
// Handlers run on the EventLoop's thread (reads are bounded); owned by main.
#include <memory>
#include <string>

#include "common/http/event_loop.hpp"
#include "common/http/http.hpp"
#include "common/http/server.hpp"
#include "worker/agent/attempt_table.hpp"

namespace drover::worker {

constexpr std::uint64_t kMaxLogChunk = 1ULL << 20;

// The route handler, testable without a socket.
Result<http::Response> serve_log(const AttemptTable& table, const http::Request& request);

// Registers the log route on `router`.
void add_log_routes(http::Router& router, const AttemptTable& table);

// "host:port" to register with: the bound address, with 0.0.0.0 / :: replaced
// by `hostname` so the master can reach it.
std::string advertised_address(const std::string& bound, const std::string& hostname);

}  // namespace drover::worker
