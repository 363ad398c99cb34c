#pragma once
// HTTP/1.1 server (Boost.Beast, coroutines) running on an EventLoop. Each
// connection has read/write deadlines, header and body limits and keep-alive;
// the number of concurrent connections is capped. Handlers run on the loop
// thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "common/http/event_loop.hpp"
#include "common/http/http.hpp"

namespace drover::http {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port
  std::uint64_t max_body_bytes = 16ULL << 20;
  std::uint64_t max_header_bytes = 64 << 10;
  Duration read_timeout = std::chrono::seconds(60);   // per request, once its first byte arrived
  Duration idle_timeout = std::chrono::seconds(120);  // keep-alive connection with no request
  std::size_t max_connections = 1024;
  // Per-route body limit override: requests whose path starts with a prefix get that limit.
  std::vector<std::pair<std::string, std::uint64_t>> body_limits;
  // When set, every request's header and body bytes are added here (metrics).
  std::atomic<std::uint64_t>* bytes_received = nullptr;
};

class Server {
 public:
  Server(EventLoop& loop, const Router& router, ServerOptions options);
  ~Server();

  // Binds and starts accepting. Returns the bound "host:port".
  Result<std::string> start();
  // Stops accepting; in-flight requests finish. Call on the loop thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::http
