// libFuzzer target: bytes from a client -> Beast's request parser with the
// master's header and body limits, through the server's own parse_buffered
// and to_request (common/http/beast_messages.hpp) -> http::Request
// (split_target, percent decoding, headers) -> the master's
// real route table behind its AccessControl guard (master/api/access.hpp),
// on a Coordinator with a fresh SQLite store, a manual clock and a manual
// reactor. Up to four pipelined requests per input. Checks that every
// response has a valid status and that a handler never answers twice.
//
// Tokens the guard knows (also in http_request.dict and the seeds):
//   admin  fuzz-admin-token-0123456789
//   read   fuzz-reader-token-0123456789
//   worker fuzz-worker-token-0123456789
#include <boost/beast/core/flat_buffer.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/http/beast_messages.hpp"
#include "common/http/http.hpp"
#include "master/api/access.hpp"
#include "master/api/routes.hpp"
#include "master/store/sqlite_store.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The master's limits (master/master_server.cpp, common/http/server.hpp).
constexpr std::uint64_t kMaxHeaderBytes = 64 << 10;
constexpr std::uint64_t kMaxBodyBytes = 64ULL << 20;
constexpr std::uint64_t kMaxBundleBytes = 1ULL << 30;  // for /api/v1/jobs
constexpr int kMaxRequests = 4;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_http_request: invariant broken: %s\n", what.c_str());
  std::abort();
}

std::uint64_t body_limit_for(const std::string& path) {
  return path.starts_with("/api/v1/jobs") ? kMaxBundleBytes : kMaxBodyBytes;
}

fs::path scratch_root() {
  static const fs::path root = [] {
    const char* tmp = std::getenv("TMPDIR");
    fs::path base = (tmp && *tmp) ? fs::path(tmp) : fs::path("/tmp");
    fs::path r = base / ("drover-fuzz-http-" + std::to_string(::getpid()));
    fs::remove_all(r);
    fs::create_directories(r);
    std::ofstream(r / "tokens.yaml")
        << "users:\n"
           "  - {name: admin, role: admin, token_sha256: "
           "d3b73b0dfdc829678df7abeea225d1c8d830ad39fff7db0c4e10c1cde20bfef9}\n"
           "  - {name: reader, role: read, token_sha256: "
           "8f2c9d4cc882dd8bcb285e3e3cca4798dfb562c2e135da1d7e1357525ab44172}\n";
    std::ofstream(r / "worker_token") << "fuzz-worker-token-0123456789\n";
    return r;
  }();
  return root;
}

const drover::master::AccessControl& access_control() {
  static const drover::master::AccessControl access = [] {
    auto a = drover::master::AccessControl::load(scratch_root() / "tokens.yaml",
                                                 scratch_root() / "worker_token");
    if (!a.ok()) fail("cannot load the fuzz tokens: " + a.error().message);
    return std::move(*a);
  }();
  return access;
}

// A master as tests/component/master_fixture.hpp builds it, in `dir`.
struct Master {
  explicit Master(const fs::path& dir) : blobs(dir / "blobs") {
    auto s = drover::master::SqliteStore::open(dir / "state.db");
    if (!s.ok()) fail("cannot open the store: " + s.error().message);
    store = std::move(*s);
    drover::master::CoordinatorOptions o;
    o.worker_timeout = 2s;
    o.heartbeat_interval = 500ms;
    co = std::make_unique<drover::master::Coordinator>(clock, reactor, *store, blobs, o);
    if (!co->start().ok()) fail("cannot start the coordinator");
    drover::master::add_public_routes(router, *co, drover::master::ApiOptions{});
    drover::master::add_internal_routes(router, *co);
    router.guard([](drover::http::Request& req, const std::string& method, const std::string& pattern) {
      return access_control().check(req, method, pattern);
    });
  }

  drover::ManualClock clock;
  drover::master::ManualReactor reactor;
  std::unique_ptr<drover::master::SqliteStore> store;
  drover::master::BlobStore blobs;
  std::unique_ptr<drover::master::Coordinator> co;
  drover::http::Router router;
};

// Parses one request from the front of `buffer` with the server's own steps
// (common/http/beast_messages.hpp, as serve_one runs them): the header, the
// body limit of its path, the body. nullopt when the server would close the
// connection instead: a parse error, a body over its limit, or bytes that
// never complete the request (the server's read would time out).
std::optional<drover::http::Request> parse_one(boost::beast::flat_buffer& buffer) {
  namespace detail = drover::http::detail;
  detail::RequestParser parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(kMaxBundleBytes);
  boost::system::error_code ec;
  detail::parse_buffered(parser, buffer, ec);
  if (ec) return std::nullopt;
  std::string path;
  std::map<std::string, std::string> ignored;
  drover::http::split_target(parser.get().target(), path, ignored);
  const std::uint64_t limit = body_limit_for(path);
  if (auto length = parser.content_length(); length && *length > limit) return std::nullopt;
  parser.body_limit(limit);
  while (!parser.is_done()) {
    detail::parse_buffered(parser, buffer, ec);
    if (ec) return std::nullopt;
  }
  return detail::to_request(parser.release(), "127.0.0.1:9");
}

void check_response(const drover::http::Response& r) {
  if (r.status < 100 || r.status > 599) fail("status out of range: " + std::to_string(r.status));
  if (r.status == 500) {
    // An internal error from a request's bytes alone is a bug in a handler.
    fail("500 from a handler: " + r.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // handlers log refusals; keep the output readable
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::beast::flat_buffer buffer;  // what the server's first reads would hold
  if (size > 0) {
    std::memcpy(buffer.prepare(size).data(), data, size);
    buffer.commit(size);
  }
  const fs::path dir = scratch_root() / "master";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  {
    Master master(dir);
    std::vector<std::unique_ptr<int>> answers;  // responses per request, for the once-check
    for (int i = 0; i < kMaxRequests && buffer.size() > 0; ++i) {
      std::optional<drover::http::Request> request = parse_one(buffer);
      if (!request) break;
      answers.push_back(std::make_unique<int>(0));
      int* count = answers.back().get();
      master.router.dispatch(*request, [count](drover::http::Response r) {
        if (++*count > 1) fail("a request was answered twice");
        check_response(r);
      });
      master.reactor.run_ready();  // group commit, then the reply
    }
    // Long polls and timers: fire what is pending once, later.
    master.clock.advance(std::chrono::minutes(1));
    master.reactor.fire_timers();
  }
  fs::remove_all(dir, ec);
  return 0;
}
