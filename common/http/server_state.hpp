#pragma once
// What a Server shares with its coroutines: its options, the acceptor, the
// live connections under the cap, and the sweep that closes idle ones.
// Included by server.cpp only.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "common/base/clock.hpp"
#include "common/http/response_delivery.hpp"
#include "common/http/http.hpp"
#include "common/http/server.hpp"

namespace drover::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// What the State sees of a connection: its TCP layer, to cancel it.
struct ConnectionBase {
  beast::tcp_stream* tcp = nullptr;  // the stream's lowest layer
  std::string remote;
  // Set while the connection waits for the first byte of a request: since when.
  std::optional<std::chrono::steady_clock::time_point> idle_since;
};

// Shared by the Server and its coroutines (they may outlive the Server while
// the io_context still holds them). Loop thread only, except `gate`.
struct State {
  State(asio::io_context& ctx, const Router& r, ServerOptions opts)
      : context(ctx), router(r), options(std::move(opts)), acceptor(ctx), sweeper(ctx) {}

  asio::io_context& context;
  const Router& router;
  ServerOptions options;
  tcp::acceptor acceptor;
  asio::steady_timer sweeper;  // sweep_idle's
  SystemClock clock;  // steady_now() for the idle sweep and the body rate
  std::shared_ptr<asio::ssl::context> tls;  // null: plain HTTP
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::size_t connections = 0;
  std::size_t refusing = 0;
  bool stopping = false;
  std::uint64_t next_connection_id = 0;
  std::map<std::uint64_t, ConnectionBase*> live;

  std::uint64_t body_limit_for(const std::string& path) const {
    std::uint64_t limit = options.max_body_bytes;
    std::size_t best = 0;
    for (const auto& [prefix, bytes] : options.body_limits) {
      if (path.starts_with(prefix) && prefix.size() >= best) {
        best = prefix.size();
        limit = bytes;
      }
    }
    return limit;
  }

  void count_received(std::size_t n) const {
    if (options.bytes_received) options.bytes_received->fetch_add(n, std::memory_order_relaxed);
  }

  std::uint64_t largest_body_limit() const {
    std::uint64_t limit = options.max_body_bytes;
    for (const auto& entry : options.body_limits) limit = std::max(limit, entry.second);
    return limit;
  }

  void stop() {
    stopping = true;
    error_code ec;
    acceptor.close(ec);
    sweeper.cancel();
    for (auto& [id, connection] : live) {
      if (connection->idle_since) connection->tcp->socket().cancel(ec);
    }
  }
};

// Registers a Connection with the State for its lifetime and releases its
// slot under the connection cap (taken by the accept loop) at the end.
class LiveGuard {
 public:
  LiveGuard(State& state, ConnectionBase& connection) : state_(state), id_(state.next_connection_id++) {
    state_.live.emplace(id_, &connection);
  }
  LiveGuard(const LiveGuard&) = delete;
  LiveGuard& operator=(const LiveGuard&) = delete;
  ~LiveGuard() {
    state_.live.erase(id_);
    --state_.connections;
  }

 private:
  State& state_;
  std::uint64_t id_;
};

// Ends the waits of connections idle for idle_timeout, checking a quarter of
// it apart (at most every second). One timer for the whole server: a deadline
// per wait cost every request a timer-heap insert and removal and a posted
// cancellation (one more turn of the event loop and of epoll_wait).
inline asio::awaitable<void> sweep_idle(std::shared_ptr<State> state) {
  using std::chrono::milliseconds;
  const Duration limit = state->options.idle_timeout;
  const Duration every = std::clamp<Duration>(limit / 4, milliseconds(5), milliseconds(1000));
  while (!state->stopping) {
    state->sweeper.expires_after(every);
    co_await state->sweeper.async_wait(asio::as_tuple(asio::use_awaitable));
    if (state->stopping) co_return;
    const auto now = state->clock.steady_now();
    for (auto& [id, connection] : state->live) {
      if (connection->idle_since && now - *connection->idle_since >= limit) {
        error_code ec;
        connection->tcp->socket().cancel(ec);  // its read ends with operation_aborted
      }
    }
  }
}

}  // namespace drover::http::detail
