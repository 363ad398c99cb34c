#pragma once
// drover's own HTTP request/response types. Domain code and route handlers
// see only these; Boost.Asio/Beast stay inside common/http/*.cpp.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/result.hpp"

namespace drover::http {

class DisconnectSignal;  // common/http internal

struct Request {
  std::string method;  // upper case: "GET", "POST", ...
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;   // decoded ?a=b&c=d
  std::map<std::string, std::string> params;  // filled by the router from {name} segments
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // "127.0.0.1:53122"
  std::string user;    // who is calling, set by the router's guard; "" when nobody checked

  // Case-insensitive header lookup; "" when absent.
  std::string header(std::string_view name) const;
  std::string query_or(const std::string& key, std::string fallback = {}) const;
  std::string param(const std::string& name) const;  // "" when absent

  // Registers `fn` to run on the server's loop thread if the client closes the
  // connection (or it fails) before this request's response is ready, e.g. a
  // long poll whose worker was killed; the response, when it comes, is then
  // dropped. At most one callback per request (a later call replaces it);
  // registered after the disconnect was seen, it is posted at once; never
  // called once the response is ready. A client that half-closes its sending
  // side counts as gone. A client that pipelines more bytes while the response
  // is pending counts as connected: the server stops watching. A no-op for
  // requests built by hand (tests). Safe from any thread.
  void on_disconnect(std::function<void()> fn);

  // Set by the Server for each request it reads; empty otherwise.
  std::shared_ptr<DisconnectSignal> disconnect_signal;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error": {"code", "message", "field"}} with http_status(error.code).
  static Response error(const Error& error);
};

// Parses an error body back into an Error (for clients); falls back to the
// status and raw body when the body is not drover's error shape.
Error error_from_response(const Response& response);

// Completion of an asynchronous handler. Call it exactly once, from any thread.
using Respond = std::function<void(Response)>;
using AsyncHandler = std::function<void(Request&, Respond)>;
using SyncHandler = std::function<Result<Response>(Request&)>;

// One table of routes. Patterns are paths whose segments may be `{name}`
// (one segment) — "/api/v1/jobs/{job}/tasks/{stage}/{index}/logs".
// Unknown path: 404; known path, other method: 405. An Error from a
// SyncHandler becomes Response::error.
class Router {
 public:
  void add(std::string method, std::string pattern, SyncHandler handler);
  void add_async(std::string method, std::string pattern, AsyncHandler handler);

  // Matches and runs a handler. Runs on the caller's thread.
  void dispatch(Request& request, Respond respond) const;

  // Called with the matched route's pattern ("/api/v1/jobs/{job}", or "" when
  // none matched), the method and the status of every response (metrics).
  using Observer = std::function<void(const std::string& route, const std::string& method, int status)>;
  void observe(Observer observer) { observer_ = std::move(observer); }

  // Runs before the handler of every matched route, with its method and
  // pattern; an Error answers the request instead (401s get a
  // `WWW-Authenticate: Bearer` header). Access control hangs here.
  using Guard = std::function<std::optional<Error>(Request&, const std::string& method,
                                                   const std::string& pattern)>;
  void guard(Guard guard) { guard_ = std::move(guard); }

  // (method, pattern) of every route, in registration order.
  std::vector<std::pair<std::string, std::string>> routes() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Route& r : routes_) out.emplace_back(r.method, r.pattern);
    return out;
  }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    AsyncHandler handler;
  };
  std::vector<Route> routes_;
  Observer observer_;
  Guard guard_;
};

// The token of an `Authorization: Bearer TOKEN` header; "" when there is none.
std::string bearer_token(const Request& req);

// Splits "/a/b?x=1" into path and decoded query map.
void split_target(std::string_view target, std::string& path, std::map<std::string, std::string>& query);
std::string url_encode(std::string_view s);  // for query values and path segments

}  // namespace drover::http
