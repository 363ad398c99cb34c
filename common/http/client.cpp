// Blocking HTTP/1.1 client: each request runs one coroutine on a private
// io_context until it completes, so tcp_stream deadlines bound it. Owned and
// used by one thread.
#include "common/http/client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "common/http/tls.hpp"

namespace drover::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kMaxResponseHeaderBytes = 1 << 20;

using BeastRequest = bhttp::request<bhttp::string_body>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct BaseUrl {
  bool tls = false;
  std::string host;         // without brackets
  std::string port = "80";
  std::string host_header;  // as written: "host:port"
  std::string prefix;       // "" or "/api" (no trailing slash)
};

Result<BaseUrl> parse_base_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::unavailable, "bad URL '" + url + "': " + why);
  };
  BaseUrl base;
  std::string_view rest = url;
  if (url.starts_with("https://")) {
    base.tls = true;
    base.port = "443";
    rest.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return bad("expected http://host:port or https://host:port");
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  base.host_header = std::string(authority);
  if (slash != std::string_view::npos) {
    base.prefix = std::string(rest.substr(slash));
    while (!base.prefix.empty() && base.prefix.back() == '/') base.prefix.pop_back();
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unbalanced [");
    base.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("expected :port after ]");
    if (!after.empty()) port = after.substr(1);
  } else {
    std::size_t colon = authority.rfind(':');
    base.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (base.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.find_first_not_of("0123456789") != std::string_view::npos) return bad("bad port");
    base.port = std::string(port);
  }
  return base;
}

// True when the kept connection can no longer carry a request: the peer
// closed it (or sent something unsolicited) while it sat idle.
bool peer_closed(tcp::socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  return true;  // 0: orderly close; > 0: bytes nobody asked for
}

Response to_response(bhttp::response<bhttp::string_body>&& res) {
  Response response;
  response.status = static_cast<int>(res.result_int());
  response.content_type = std::string(res[bhttp::field::content_type]);
  for (const auto& field : res) {
    if (field.name() == bhttp::field::content_type) continue;
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(res.body());
  return response;
}

}  // namespace

struct Client::Impl {
  std::string base_url;
  ClientOptions options;
  Result<BaseUrl> base;
  asio::io_context context{1};
  beast::tcp_stream stream{context};  // plain http
  std::shared_ptr<asio::ssl::context> tls_context;  // https: made on first use
  std::unique_ptr<TlsStream> tls;  // https: one per connection
  beast::flat_buffer buffer;
  bool connected = false;

  Impl(std::string url, ClientOptions opts)
      : base_url(std::move(url)), options(std::move(opts)), base(parse_base_url(base_url)) {}

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : stream; }

  Error unreachable(const error_code& ec, Duration timeout) const {
    std::string reason = ec == beast::error::timeout
                             ? "timed out after " + format_duration(timeout)
                             : ec.message();
    return make_error(ErrorCode::unavailable, fmt::format("cannot reach {}: {}", base_url, reason));
  }

  void disconnect() {
    error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp().close();
    tls.reset();
    buffer.clear();
    connected = false;
  }

  // Opens the TCP connection, and for https runs the TLS handshake with SNI
  // and verification of the chain and of the host name or IP address.
  // Fills `failure` when the error needs more words than `ec` has.
  asio::awaitable<error_code> connect(Clock::time_point deadline, std::optional<Error>& failure) {
    if (!base->tls) co_return co_await connect_tcp(stream, deadline);
    if (!tls_context) {
      auto made = make_client_tls_context(options.ca_file);
      if (!made.ok()) {
        failure = made.error();
        co_return error_code(asio::error::operation_aborted);
      }
      tls_context = *made;
    }
    tls = std::make_unique<TlsStream>(context, *tls_context);
    const BaseUrl& b = base.value();
    SSL* ssl = tls->native_handle();
    error_code ec;
    asio::ip::make_address(b.host, ec);
    if (!ec) {  // an IP literal: checked against the certificate's IP SANs, no SNI
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), b.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, b.host.c_str());
      SSL_set1_host(ssl, b.host.c_str());
    }
    if (error_code tcp_ec = co_await connect_tcp(beast::get_lowest_layer(*tls), deadline); tcp_ec) {
      co_return tcp_ec;
    }
    connected = false;  // until the handshake is done
    beast::get_lowest_layer(*tls).expires_at(deadline);
    auto [hs_ec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hs_ec) {
      if (is_verify_failure(hs_ec)) {
        failure = make_error(ErrorCode::unavailable,
                             fmt::format("cannot reach {}: {}", base_url,
                                         describe_verify_failure(SSL_get_verify_result(ssl))));
      }
      co_return hs_ec;
    }
    connected = true;
    co_return error_code{};
  }

  asio::awaitable<error_code> connect_tcp(beast::tcp_stream& s, Clock::time_point deadline) {
    const BaseUrl& b = base.value();
    error_code ec;
    auto address = asio::ip::make_address(b.host, ec);
    if (!ec) {
      s.expires_at(deadline);
      auto [connect_ec] = co_await s.async_connect(
          tcp::endpoint(address, static_cast<unsigned short>(std::stoul(b.port))), kTuple);
      if (!connect_ec) on_connected(s);
      co_return connect_ec;
    }
    // The resolver has no deadline of its own: a timer cancels it.
    auto resolver = std::make_shared<tcp::resolver>(context);
    asio::steady_timer guard(context, deadline);
    guard.async_wait([resolver](const error_code& timer_ec) {
      if (!timer_ec) resolver->cancel();
    });
    auto [resolve_ec, endpoints] = co_await resolver->async_resolve(b.host, b.port, kTuple);
    guard.cancel();
    if (resolve_ec) co_return resolve_ec == asio::error::operation_aborted ? beast::error::timeout : resolve_ec;
    s.expires_at(deadline);
    auto [connect_ec, endpoint] = co_await s.async_connect(endpoints, kTuple);
    if (!connect_ec) on_connected(s);
    co_return connect_ec;
  }

  void on_connected(beast::tcp_stream& s) {
    error_code ignored;
    s.socket().set_option(tcp::no_delay(true), ignored);
    connected = true;
  }

  asio::awaitable<Result<Response>> read_response(Clock::time_point deadline, error_code& ec) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxResponseHeaderBytes);
    parser.body_limit(options.max_response_bytes);
    tcp().expires_at(deadline);
    error_code read_ec;
    if (tls) {
      std::tie(read_ec, std::ignore) = co_await bhttp::async_read(*tls, buffer, parser, kTuple);
    } else {
      std::tie(read_ec, std::ignore) = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    }
    ec = read_ec;
    if (ec == bhttp::error::body_limit) {
      co_return make_error(ErrorCode::too_large,
                           fmt::format("response from {} over {} bytes", base_url, options.max_response_bytes));
    }
    if (ec) co_return Error{};
    co_return to_response(parser.release());
  }

  // One request; a kept connection that fails while the request is being
  // written is replaced once (the peer cannot have seen the whole request).
  asio::awaitable<void> exchange(BeastRequest& req, Clock::time_point deadline, Duration timeout,
                                 std::optional<Result<Response>>& out) {
    for (int attempt = 0;; ++attempt) {
      if (connected && peer_closed(tcp().socket())) disconnect();
      const bool reused = connected;
      if (!connected) {
        std::optional<Error> failure;
        if (error_code ec = co_await connect(deadline, failure); ec) {
          disconnect();
          out = failure ? Result<Response>(std::move(*failure)) : Result<Response>(unreachable(ec, timeout));
          co_return;
        }
      }
      tcp().expires_at(deadline);
      error_code write_ec;
      if (tls) {
        std::tie(write_ec, std::ignore) = co_await bhttp::async_write(*tls, req, kTuple);
      } else {
        std::tie(write_ec, std::ignore) = co_await bhttp::async_write(stream, req, kTuple);
      }
      error_code read_ec;
      if (write_ec) {
        if (reused && attempt == 0 && write_ec != beast::error::timeout) {
          disconnect();
          continue;
        }
        // The server may have answered early (e.g. 413) before closing.
        if (write_ec != beast::error::timeout) {
          Result<Response> early = co_await read_response(deadline, read_ec);
          disconnect();
          out = read_ec ? Result<Response>(unreachable(write_ec, timeout)) : std::move(early);
          co_return;
        }
        disconnect();
        out = unreachable(write_ec, timeout);
        co_return;
      }
      Result<Response> response = co_await read_response(deadline, read_ec);
      if (read_ec) {
        disconnect();
        out = read_ec == bhttp::error::body_limit ? std::move(response)
                                                  : Result<Response>(unreachable(read_ec, timeout));
        co_return;
      }
      if (!response.ok() || !keep_alive_of(*response)) disconnect();
      out = std::move(response);
      co_return;
    }
  }

  static bool keep_alive_of(const Response& response) {
    for (const auto& [name, value] : response.headers) {
      if (beast::iequals(name, "Connection") && beast::iequals(value, "close")) return false;
    }
    return true;
  }
};

Client::Client(std::string base_url, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(base_url), std::move(options))) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const std::string& Client::base_url() const { return impl_->base_url; }

Result<Response> Client::request(std::string_view method, std::string_view target, std::string body,
                                 std::string content_type, Duration timeout) {
  Impl& s = *impl_;
  if (!s.base.ok()) return s.base.error();
  if (timeout <= Duration{0}) timeout = s.options.timeout;
  const auto deadline = Clock::now() + timeout;

  BeastRequest req;
  req.version(11);
  req.method_string(method);
  std::string path = s.base->prefix;
  if (!target.starts_with('/')) path += '/';
  path += target;
  req.target(path);
  req.set(bhttp::field::host, s.base->host_header);
  if (!s.options.bearer_token.empty()) {
    req.set(bhttp::field::authorization, "Bearer " + s.options.bearer_token);
  }
  if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
  req.body() = std::move(body);
  req.keep_alive(true);
  req.prepare_payload();

  std::optional<Result<Response>> out;
  asio::co_spawn(s.context, s.exchange(req, deadline, timeout, out), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      out = make_error(ErrorCode::internal, fmt::format("request to {} failed: {}", s.base_url, ex.what()));
    }
  });
  s.context.restart();
  s.context.run();
  if (!out) {
    s.disconnect();
    return make_error(ErrorCode::internal, "request to " + s.base_url + " did not complete");
  }
  return std::move(*out);
}

namespace {

Result<nlohmann::json> json_of(const std::string& base_url, Result<Response> response) {
  if (!response.ok()) return response.error();
  if (!response->ok()) return error_from_response(*response);
  if (response->body.empty()) return nlohmann::json();
  auto parsed = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return make_error(ErrorCode::internal, "bad JSON in a response from " + base_url);
  }
  return parsed;
}

}  // namespace

Result<nlohmann::json> Client::get_json(std::string_view target, Duration timeout) {
  return json_of(impl_->base_url, get(target, timeout));
}

Result<nlohmann::json> Client::post_json(std::string_view target, const nlohmann::json& body,
                                         Duration timeout) {
  return json_of(impl_->base_url,
                 request("POST", target, body.dump(), "application/json", timeout));
}

}  // namespace drover::http
