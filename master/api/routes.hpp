#pragma once
// The master's route table: the public REST API (SPEC §6) and the internal
// worker protocol (documented in the README). Handlers run on the event loop
// thread and never see a socket.
#include <atomic>
#include <functional>
#include <string>

#include "common/http/event_loop.hpp"
#include "common/http/http.hpp"
#include "master/coordinator/coordinator.hpp"

namespace nlohmann {
// Ok has no fields: an empty object on the wire.
template <>
struct adl_serializer<drover::Ok> {
  static void to_json(json& j, const drover::Ok&) { j = json::object(); }
};
}  // namespace nlohmann

namespace drover::master {

// Fetches `target` from a worker's log server at `address`, presenting `token`
// (the worker's log token; none without auth); calls `done` from any thread.
using WorkerFetch =
    std::function<void(const std::string& address, const std::string& token,
                       const std::string& target, std::function<void(Result<http::Response>)> done)>;

struct ApiOptions {
  std::uint64_t max_bundle_size = 1ULL << 30;
  WorkerFetch fetch_from_worker;
  const std::atomic<std::uint64_t>* bytes_received = nullptr;  // counted by the HTTP server
  const http::EventLoop* loop = nullptr;                       // the master's, for its pauses
};

void add_public_routes(http::Router& router, Coordinator& coordinator, const ApiOptions& options);
void add_internal_routes(http::Router& router, Coordinator& coordinator);
// GET /: the dashboard page (SPEC §7), with a strict Content-Security-Policy.
void add_dashboard_route(http::Router& router);

// Parses a JSON body into T; invalid_argument naming the problem otherwise.
template <typename T>
Result<T> parse_body(const std::string& body) {
  try {
    return nlohmann::json::parse(body).get<T>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::invalid_argument, std::string("bad JSON body: ") + e.what());
  }
}

// Adapts a coordinator reply to an HTTP response.
template <typename T>
std::function<void(Result<T>)> respond_json(http::Respond respond, int status = 200) {
  return [respond = std::move(respond), status](Result<T> r) {
    if (!r.ok()) {
      respond(http::Response::error(r.error()));
    } else {
      respond(http::Response::json(status, nlohmann::json(*r)));
    }
  };
}

}  // namespace drover::master
