// HTTP/1.1 server: one coroutine accepts, one coroutine per connection reads
// a request, dispatches it through the Router, waits for its Respond (which
// may come later, from another thread) and writes the response. The session
// is one template over the stream: beast::tcp_stream (plain) or
// beast::ssl_stream<tcp_stream> (TLS). Everything here runs on the
// EventLoop's thread, except Completion::complete.
#include "common/http/server.hpp"


#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <spdlog/spdlog.h>

#include "common/base/clock.hpp"
#include "common/http/beast_messages.hpp"
#include "common/http/disconnect.hpp"
#include "common/http/server_setup.hpp"
#include "common/http/server_state.hpp"
#include "common/http/response_delivery.hpp"
#include "common/http/tls.hpp"

namespace drover::http {
namespace {

using namespace detail;  // Gate, Slot, Completion, poster; to_request, response_head, parse_buffered;
                        // State, ConnectionBase, LiveGuard, sweep_idle

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kFirstReadBytes = 8192;
constexpr std::size_t kMaxDrainBytes = 1 << 20;          // read and dropped before closing
constexpr std::chrono::seconds kDrainTimeout{1};         // after an error reply
constexpr std::chrono::seconds kRejectTimeout{2};        // for the 503 over the connection cap
constexpr std::size_t kMaxRefusing = 64;                 // 503s in flight; beyond, close at once
constexpr unsigned char kTlsHandshakeRecord = 0x16;      // first byte of a ClientHello

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One accepted connection; lives in its session's coroutine frame.
template <class Stream>
struct Connection : ConnectionBase {
  template <class... Args>
  explicit Connection(Args&&... args) : stream(std::forward<Args>(args)...) {
    tcp = &beast::get_lowest_layer(stream);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Stream stream;
};


std::string endpoint_string(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// Writes `response` (as the request's HTTP version said) with a deadline that
// restarts on progress, so that large bodies to slow readers are not cut off
// while they still move.
template <class Stream>
asio::awaitable<error_code> write_response(Stream& stream, const Response& response, unsigned version,
                                           bool keep_alive, Duration timeout) {
  const std::string head = response_head(response, version, keep_alive);
  const std::string_view body = has_body(response.status) ? std::string_view(response.body) : std::string_view();
  const std::size_t total = head.size() + body.size();
  std::size_t sent = 0;
  const auto rest = [&]() -> std::array<asio::const_buffer, 2> {  // what is still to send
    if (sent < head.size()) return {asio::buffer(head.data() + sent, head.size() - sent), asio::buffer(body)};
    return {asio::buffer(body.data() + (sent - head.size()), total - sent), asio::const_buffer()};
  };
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    // Plain TCP: a response that fits the socket's buffer (nearly every one)
    // leaves in one non-blocking send, without an asynchronous operation and
    // its deadline timer; whatever does not fit goes the asynchronous way.
    // The mode stays set (asynchronous operations ignore it): each change
    // is a system call.
    error_code ec;
    if (!stream.socket().non_blocking()) stream.socket().non_blocking(true, ec);
    if (!ec) sent = stream.socket().write_some(rest(), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
  }
  while (sent < total) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [ec, n] = co_await stream.async_write_some(rest(), kTuple);
    if (ec) co_return ec;
    sent += n;
  }
  co_return error_code{};
}

// Half-closes and drops what the peer still sends for a moment, so that the
// error response is not destroyed by a TCP reset over unread request bytes.
// Works on the TCP layer (a TLS peer's bytes are dropped undecrypted).
asio::awaitable<void> close_lingering(beast::tcp_stream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 16384> scratch;
  std::size_t drained = 0;
  stream.expires_after(kDrainTimeout);
  while (drained < kMaxDrainBytes) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
    if (read_ec) break;
    drained += n;
  }
  stream.socket().close(ec);
}

// Answers an unusable request with an error and closes the connection.
template <class Stream>
asio::awaitable<void> reject(Stream& stream, const Error& error, Duration timeout) {
  const Response response = Response::error(error);
  error_code ec = co_await write_response(stream, response, 11, false, timeout);
  if (!ec) co_await close_lingering(beast::get_lowest_layer(stream));
}

// Handles a failed read of a request. Always ends the connection.
template <class Stream>
asio::awaitable<void> on_read_error(State& state, Connection<Stream>& c, const error_code& ec) {
  if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
    spdlog::info("http: {}: request too large ({})", c.remote, ec.message());
    co_await reject(c.stream, make_error(ErrorCode::too_large, "request too large: " + ec.message()),
                    state.options.write_timeout);
  } else if (is_parse_error(ec) && ec != bhttp::error::end_of_stream &&
             ec != bhttp::error::partial_message) {
    spdlog::info("http: {}: malformed request: {}", c.remote, ec.message());
    co_await reject(c.stream,
                    make_error(ErrorCode::invalid_argument, "malformed request: " + ec.message()),
                    state.options.write_timeout);
  } else if (ec == beast::error::timeout) {
    spdlog::info("http: {}: request not received within {}", c.remote,
                 format_duration(state.options.read_timeout));
  } else if (ec != asio::error::operation_aborted && ec != bhttp::error::end_of_stream) {
    spdlog::debug("http: {}: connection ended: {}", c.remote, ec.message());
  }
}

// The read that watches a connection while its response is pending: it
// completes with an error when the peer goes away, or with the first bytes of
// a pipelined request. Shared with the read's completion handler.
struct Watch {
  bool done = false;
  error_code ec;
  std::size_t bytes = 0;
  asio::steady_timer* wake = nullptr;  // the session waiting for `done`
};

// Runs the route and waits, without blocking the loop, for its response.
// Meanwhile a read on the socket watches for the peer going away; then the
// request's disconnect callback runs and nullopt is returned (the response,
// whenever it comes, is dropped). Pipelined bytes that the watch reads are
// kept in `buffer` for the next request, and end the watch.
template <class Stream>
asio::awaitable<std::optional<Response>> run_handler(State& state, Connection<Stream>& c,
                                                     beast::flat_buffer& buffer, Request& request) {
  auto slot = std::make_shared<Slot>();
  auto watch = std::make_shared<Watch>();
  asio::steady_timer wake(state.context, asio::steady_timer::time_point::max());
  slot->wake = &wake;
  watch->wake = &wake;
  struct Unhook {
    Slot& slot;
    Watch& watch;
    ~Unhook() {
      slot.wake = nullptr;
      watch.wake = nullptr;
    }
  } unhook{*slot, *watch};
  auto signal = std::make_shared<DisconnectSignal>(poster(state.gate));
  request.disconnect_signal = signal;
  auto completion = std::make_shared<Completion>(state.gate, slot);
  state.router.dispatch(request, [completion = std::move(completion)](Response r) {
    completion->complete(std::move(r));
  });

  // Bytes already buffered are a pipelined request: the peer counts as
  // connected, and the buffer does not grow while responses are pending.
  // The watch reads through the stream (TLS records are decrypted) with no
  // deadline, and is stopped by cancelling the socket's operations.
  if (!slot->response && buffer.size() == 0) {
    c.tcp->expires_never();
    c.stream.async_read_some(buffer.prepare(kFirstReadBytes), [watch](error_code ec, std::size_t n) {
      watch->done = true;
      watch->ec = ec;
      watch->bytes = n;
      if (watch->wake) watch->wake->cancel();
    });
    while (!slot->response && !watch->done) co_await wake.async_wait(kTuple);
    if (!watch->done) {
      error_code ignored;
      c.tcp->socket().cancel(ignored);
      while (!watch->done) co_await wake.async_wait(kTuple);  // the buffer is the read's until then
    }
    buffer.commit(watch->bytes);
    if (!slot->response && watch->ec) {
      if (watch->ec != asio::error::eof) {
        spdlog::debug("http: {}: connection ended: {}", c.remote, watch->ec.message());
      }
      spdlog::debug("http: {}: client went away during {} {}", c.remote, request.method,
                    request.path);
      signal->fire();
      co_return std::nullopt;
    }
  }
  while (!slot->response) co_await wake.async_wait(kTuple);
  signal->finish();
  co_return std::move(*slot->response);
}

// Reads the first bytes of something from `from` (the connection's stream or
// its TCP layer) while the connection counts as idle: sweep_idle ends the read
// after idle_timeout, and Server::stop at once.
template <class ReadStream>
asio::awaitable<std::tuple<error_code, std::size_t>> read_while_idle(State& state, ConnectionBase& c,
                                                                     ReadStream& from,
                                                                     beast::flat_buffer& buffer) {
  c.idle_since = state.clock.steady_now();
  c.tcp->expires_never();
  auto result = co_await from.async_read_some(buffer.prepare(kFirstReadBytes), kTuple);
  c.idle_since.reset();
  co_return result;
}

// Waits for the first byte of the next request.
template <class Stream>
asio::awaitable<bool> wait_for_request(State& state, Connection<Stream>& c, beast::flat_buffer& buffer) {
  if (buffer.size() > 0) co_return true;
  auto [ec, n] = co_await read_while_idle(state, c, c.stream, buffer);
  if (ec) {
    if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != beast::error::timeout) {
      spdlog::debug("http: {}: connection ended: {}", c.remote, ec.message());
    }
    co_return false;
  }
  buffer.commit(n);
  co_return true;
}

// Serves one request; returns whether the connection stays open.
template <class Stream>
asio::awaitable<bool> serve_one(State& state, Connection<Stream>& c, beast::flat_buffer& buffer) {
  if (!co_await wait_for_request(state, c, buffer)) co_return false;

  RequestParser parser;
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::uint64_t>(state.options.max_header_bytes, UINT32_MAX)));
  parser.body_limit(state.largest_body_limit());
  // A small request usually arrived whole with its first bytes: parse what is
  // buffered first, and read (with its deadline) only for what is missing.
  // One deadline for the whole header, however slowly its bytes trickle in.
  error_code header_ec;
  std::size_t header_bytes = parse_buffered(parser, buffer, header_ec);
  if (header_ec == bhttp::error::need_more) {
    c.tcp->expires_after(state.options.read_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(c.stream, buffer, parser, kTuple);
    header_ec = ec;
    header_bytes += n;
  }
  if (header_ec) {
    co_await on_read_error(state, c, header_ec);
    co_return false;
  }
  state.count_received(header_bytes);

  // The body limit depends on the path, known only now.
  std::string path;
  std::map<std::string, std::string> ignored;
  split_target(parser.get().target(), path, ignored);
  const std::uint64_t limit = state.body_limit_for(path);
  if (auto length = parser.content_length(); length && *length > limit) {
    co_await on_read_error(state, c, bhttp::error::body_limit);
    co_return false;
  }
  parser.body_limit(limit);
  const unsigned version = parser.get().version();
  if (version != 10 && version != 11) {  // e.g. the HTTP/2 preface "PRI * HTTP/2.0"
    spdlog::info("http: {}: unsupported HTTP version {}.{}", c.remote, version / 10, version % 10);
    co_await reject(c.stream,
                    make_error(ErrorCode::invalid_argument, "only HTTP/1.0 and HTTP/1.1 are supported"),
                    state.options.write_timeout);
    co_return false;
  }
  if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
    bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, version};
    c.tcp->expires_after(state.options.write_timeout);
    if (auto [ec, n] = co_await bhttp::async_write(c.stream, go_on, kTuple); ec) co_return false;
  }
  const SystemClock& clock = state.clock;  // the sockets' timers run on the steady clock
  const auto body_start = clock.steady_now();
  std::uint64_t body_bytes = 0;
  while (!parser.is_done()) {
    error_code ec;
    std::size_t n = parse_buffered(parser, buffer, ec);
    if (ec == bhttp::error::need_more) {
      auto deadline = clock.steady_now() + state.options.read_timeout;
      if (state.options.min_body_rate > 0) {  // the rate it must keep, past the first read_timeout
        const auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(body_bytes) /
                                          static_cast<double>(state.options.min_body_rate)));
        deadline = std::min(deadline, body_start + state.options.read_timeout + budget);
      }
      c.tcp->expires_at(deadline);
      std::tie(ec, n) = co_await bhttp::async_read_some(c.stream, buffer, parser, kTuple);
    }
    if (ec) {
      co_await on_read_error(state, c, ec);
      co_return false;
    }
    state.count_received(n);
    body_bytes += n;
  }

  const bool wants_keep_alive = parser.get().keep_alive();
  Request request = to_request(parser.release(), c.remote);
  std::optional<Response> response = co_await run_handler(state, c, buffer, request);
  if (!response) co_return false;  // the client went away
  const bool keep_alive = wants_keep_alive && !state.stopping;
  if (error_code ec = co_await write_response(c.stream, *response, version, keep_alive,
                                               state.options.write_timeout);
      ec) {
    spdlog::debug("http: {}: cannot write response: {}", c.remote, ec.message());
    co_return false;
  }
  co_return keep_alive;
}

// Serves requests until the connection ends, then closes it.
template <class Stream>
asio::awaitable<void> serve(State& state, Connection<Stream>& c, beast::flat_buffer& buffer) {
  while (!state.stopping && co_await serve_one(state, c, buffer)) {
  }
  error_code ec;
  c.tcp->socket().shutdown(tcp::socket::shutdown_send, ec);
  c.tcp->socket().close(ec);
}

asio::awaitable<void> plain_session(std::shared_ptr<State> state, tcp::socket socket) {
  Connection<PlainStream> c(std::move(socket));
  LiveGuard guard(*state, c);
  error_code ec;
  c.remote = endpoint_string(c.tcp->socket().remote_endpoint(ec));
  c.tcp->socket().set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  co_await serve(*state, c, buffer);
}

// Reads the first bytes (within idle_timeout), answers a plain-HTTP client with a
// 400 in plain text, else runs the handshake (read_timeout) and serves.
asio::awaitable<void> tls_session(std::shared_ptr<State> state, tcp::socket socket) {
  Connection<TlsStream> c(std::move(socket), *state->tls);
  LiveGuard guard(*state, c);
  error_code ec;
  c.remote = endpoint_string(c.tcp->socket().remote_endpoint(ec));
  c.tcp->socket().set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  auto [read_ec, n] = co_await read_while_idle(*state, c, *c.tcp, buffer);
  if (read_ec || state->stopping) co_return;
  buffer.commit(n);
  if (static_cast<const unsigned char*>(buffer.data().data())[0] != kTlsHandshakeRecord) {
    spdlog::info("http: {}: plain HTTP on the TLS port", c.remote);
    co_await reject(*c.tcp,
                    make_error(ErrorCode::invalid_argument,
                               "this server speaks TLS: use an https:// URL"),
                    state->options.write_timeout);
    co_return;
  }
  c.tcp->expires_after(state->options.read_timeout);
  auto [hs_ec, used] = co_await c.stream.async_handshake(asio::ssl::stream_base::server,
                                                         buffer.data(), kTuple);
  if (hs_ec) {
    spdlog::info("http: {}: TLS handshake failed: {}", c.remote, hs_ec.message());
    co_return;
  }
  buffer.consume(used);
  // The engine takes every byte it was given; what a client sends before the
  // handshake ends cannot be a request (no 0-RTT), so anything left is junk.
  if (buffer.size() != 0) co_return;
  co_await serve(*state, c, buffer);
}

// Over the connection cap: a 503 and close, without reading the request.
// A TLS client could not read a plain 503: closed at once, like any
// connection while too many refusals are already in flight.
asio::awaitable<void> refuse(std::shared_ptr<State> state, tcp::socket socket) {
  if (state->tls || state->refusing >= kMaxRefusing) {
    error_code ec;
    socket.close(ec);
    co_return;
  }
  ++state->refusing;
  struct Release {
    State& state;
    ~Release() { --state.refusing; }
  } release{*state};
  beast::tcp_stream stream(std::move(socket));
  co_await reject(stream, make_error(ErrorCode::unavailable, "too many connections"),
                  kRejectTimeout);
}

void log_failure(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("http: connection failed: {}", ex.what());
  } catch (...) {
    spdlog::error("http: connection failed with an unknown exception");
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) co_return;
      spdlog::warn("http: accept failed: {}", ec.message());
      asio::steady_timer pause(state->context, std::chrono::milliseconds(100));
      co_await pause.async_wait(kTuple);  // e.g. out of file descriptors
      continue;
    }
    if (state->connections >= state->options.max_connections) {
      spdlog::warn("http: over {} connections, refusing one", state->options.max_connections);
      asio::co_spawn(state->context, refuse(state, std::move(socket)), log_failure);
      continue;
    }
    ++state->connections;  // released by the session's LiveGuard
    if (state->tls) {
      asio::co_spawn(state->context, tls_session(state, std::move(socket)), log_failure);
    } else {
      asio::co_spawn(state->context, plain_session(state, std::move(socket)), log_failure);
    }
  }
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<State> state;
  bool started = false;
};

Server::Server(EventLoop& loop, const Router& router, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  auto& context = *static_cast<asio::io_context*>(loop.native());
  impl_->state = std::make_shared<State>(context, router, std::move(options));
  impl_->state->gate->context = &context;
}

Server::~Server() {
  auto& state = impl_->state;
  {
    std::lock_guard lock(state->gate->mutex);
    state->gate->context = nullptr;
  }
  if (state->context.stopped() || state->context.get_executor().running_in_this_thread()) {
    state->stop();
  } else {
    asio::post(state->context, [state] { state->stop(); });
  }
}

Result<std::string> Server::start() {
  State& state = *impl_->state;
  if (impl_->started) return make_error(ErrorCode::conflict, "the server is already started");
  auto endpoint = parse_listen(state.context, state.options.listen);
  if (!endpoint.ok()) return endpoint.error();
  const ServerOptions& o = state.options;
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return make_error(ErrorCode::invalid_argument, "tls.cert and tls.key must be set together",
                      o.tls_cert.empty() ? "tls.cert" : "tls.key");
  }
  if (!o.tls_cert.empty()) {
    auto tls = make_server_tls_context(o.tls_cert, o.tls_key);
    if (!tls.ok()) return tls.error();
    state.tls = *tls;
  }
  state.options.max_connections = raise_descriptor_limit(o.max_connections);
  error_code ec;
  auto fail = [&](const char* what) {
    error_code ignored;
    state.acceptor.close(ignored);
    return make_error(ErrorCode::unavailable,
                      fmt::format("cannot listen on {}: {}: {}", state.options.listen, what, ec.message()));
  };
  if (state.acceptor.open(endpoint->protocol(), ec); ec) return fail("open");
  if (state.acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) return fail("reuse_address");
  if (state.acceptor.bind(*endpoint, ec); ec) return fail("bind");
  if (state.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  tcp::endpoint local = state.acceptor.local_endpoint(ec);
  if (ec) return fail("local_endpoint");
  impl_->started = true;
  asio::co_spawn(state.context, accept_loop(impl_->state), log_failure);
  asio::co_spawn(state.context, sweep_idle(impl_->state), log_failure);
  return endpoint_string(local);
}

std::size_t Server::connection_count() const { return impl_->state->connections; }

void Server::stop() {
  asio::dispatch(impl_->state->context, [state = impl_->state] { state->stop(); });
}

}  // namespace drover::http
