#pragma once
// HTTP/1.1 server (Boost.Beast, coroutines) running on an EventLoop, plain or
// over TLS. Each connection has deadlines, header and body limits and
// keep-alive; the number of concurrent connections is capped. Handlers run on
// the loop thread.
//
// Deadlines (defaults in ServerOptions):
//   idle_timeout   a connection waiting for the first byte of a request
//                  (closed between idle_timeout and a quarter of it, at most
//                  a second, later: one sweep serves every connection)
//   read_timeout   the TLS handshake, and the whole request header from its
//                  first byte (not restarted per byte: slow drip-feeders are
//                  cut off); then each body read, restarted while it moves,
//                  as long as the body averages min_body_rate after its
//                  first read_timeout (a body dripped in is cut off too)
//   write_timeout  each write of the response, restarted while it moves (a
//                  reader that stalls is cut off)
// Over max_connections a connection gets a 503 (plain) or is closed at once
// (TLS, or when many refusals are already pending).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  Duration write_timeout = std::chrono::seconds(60);  // per write, restarted on progress
  std::uint64_t min_body_rate = 1024;  // bytes/s a request body averages past read_timeout; 0 = any
  std::size_t max_connections = 1024;
  // Per-route body limit override: requests whose path starts with a prefix get that limit.
  std::vector<std::pair<std::string, std::uint64_t>> body_limits;
  // When set, every request's header and body bytes are added here (metrics).
  std::atomic<std::uint64_t>* bytes_received = nullptr;
  // TLS: PEM files with the certificate chain and its private key. Both empty:
  // plain HTTP; one without the other is an error from start().
  std::string tls_cert, tls_key;
};

class Server {
 public:
  Server(EventLoop& loop, const Router& router, ServerOptions options);
  ~Server();

  // Loads the TLS files (errors name `tls.cert` / `tls.key`), binds and starts
  // accepting. Raises the soft RLIMIT_NOFILE towards the hard one when it is
  // too low for max_connections. Returns the bound "host:port".
  Result<std::string> start();
  // Stops accepting; in-flight requests finish. Call on the loop thread.
  void stop();
  // Connections being served now (refused ones not counted). Loop thread only.
  std::size_t connection_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::http
