#pragma once
// The master's route table: the public REST API (SPEC §6) and the internal
// worker protocol (documented in the README). Handlers run on the event loop
// thread and never see a socket.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

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

// Fetches `target` from a worker's log server at `address`; calls `done` from any thread.
using WorkerFetch = std::function<void(const std::string& address, const std::string& target,
                                       std::function<void(Result<http::Response>)> done)>;

struct ApiOptions {
  std::uint64_t max_bundle_size = 1ULL << 30;
  WorkerFetch fetch_from_worker;
  const std::atomic<std::uint64_t>* bytes_received = nullptr;  // counted by the HTTP server
  const http::EventLoop* loop = nullptr;                       // the master's, for its pauses
};

void add_public_routes(http::Router& router, Coordinator& coordinator, const ApiOptions& options);
// The token each worker's log server asks for, by the worker's address, as the
// worker last sent it (registration, heartbeats). Thread-safe.
class WorkerLogTokens {
 public:
  void set(const std::string& address, const std::string& token) {
    std::lock_guard lock(mu_);
    auto [it, added] = by_address_.try_emplace(address, token);
    if (!added && it->second != token) it->second = token;  // every heartbeat: seldom a change
  }
  std::string get(const std::string& address) const {
    std::lock_guard lock(mu_);
    auto it = by_address_.find(address);
    return it == by_address_.end() ? std::string() : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> by_address_;
};

// `log_tokens` (may be null) learns each worker's log token.
void add_internal_routes(http::Router& router, Coordinator& coordinator,
                         WorkerLogTokens* log_tokens = nullptr);
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
