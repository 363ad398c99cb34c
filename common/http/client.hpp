#pragma once
// Blocking HTTP/1.1 client (Boost.Beast) with keep-alive, for the CLI, the
// worker's threads and tests. One Client per thread; not thread-safe.
// Transport failures (refused, reset, timeout, bad URL, a TLS certificate that
// cannot be verified) are Errors with code `unavailable`; any HTTP status is
// a Response. https:// URLs use TLS 1.2+ and verify the server's certificate
// chain and its host name (or IP address).
#include <filesystem>
#include <memory>
#include <string>

#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "common/http/http.hpp"

namespace drover::http {

struct ClientOptions {
  Duration timeout = std::chrono::seconds(30);  // whole request, connect included
  std::string bearer_token;                     // sent as Authorization: Bearer
  std::uint64_t max_response_bytes = 4ULL << 30;
  std::string ca_file;  // https: PEM CA certificates to trust; empty = the system's CAs
};

class Client {
 public:
  // base_url: "http://host:port" or "https://host:port" (a path prefix is
  // allowed and kept).
  explicit Client(std::string base_url, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // target: "/api/v1/jobs?limit=10". `timeout` overrides options.timeout when > 0.
  Result<Response> request(std::string_view method, std::string_view target,
                           std::string body = {}, std::string content_type = {},
                           Duration timeout = Duration{0});

  Result<Response> get(std::string_view target, Duration timeout = Duration{0}) {
    return request("GET", target, {}, {}, timeout);
  }
  // JSON convenience: non-2xx statuses become the Error from the body.
  Result<nlohmann::json> get_json(std::string_view target, Duration timeout = Duration{0});
  Result<nlohmann::json> post_json(std::string_view target, const nlohmann::json& body,
                                   Duration timeout = Duration{0});

  const std::string& base_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::http
