#pragma once
// The master's routes driven without sockets: Router::dispatch against a real
// Coordinator, SQLite store and blob store, with a manual clock and reactor.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "master/api/routes.hpp"
#include "master/store/sqlite_store.hpp"
#include "tests/support/support.hpp"

namespace drover::master::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using drover::test::TempDir;

struct Master {
  // Without commit patience by default: every reply comes with run_ready(),
  // and the timers of the tests that fire them are only theirs.
  explicit Master(fs::path dir, Duration commit_patience = Duration{0})
      : dir_(std::move(dir)), blobs(dir_ / "blobs") {
    fs::create_directories(dir_);
    auto s = SqliteStore::open(dir_ / "state.db");
    REQUIRE(s.ok());
    store = std::move(*s);
    CoordinatorOptions o;
    o.worker_timeout = 2s;
    o.heartbeat_interval = 500ms;
    o.commit_patience = commit_patience;
    co = std::make_unique<Coordinator>(clock, reactor, *store, blobs, o);
    REQUIRE(co->start().ok());
    add_public_routes(router, *co, ApiOptions{});
    add_internal_routes(router, *co);
  }

  http::Response call(const std::string& method, const std::string& target, std::string body = {}) {
    http::Request req;
    req.method = method;
    http::split_target(target, req.path, req.query);
    req.body = std::move(body);
    req.remote = "127.0.0.1:9";
    std::optional<http::Response> out;
    router.dispatch(req, [&out](http::Response r) { out = std::move(r); });
    reactor.run_ready();  // group commit, then the reply
    REQUIRE(out.has_value());
    return *out;
  }
  // Dispatches a request without running the reactor: `target` goes into
  // `answered` when its reply comes, which must be a success.
  void send(const std::string& method, const std::string& target, std::string body,
            std::vector<std::string>& answered) {
    http::Request req;
    req.method = method;
    http::split_target(target, req.path, req.query);
    req.body = std::move(body);
    req.remote = "127.0.0.1:9";
    router.dispatch(req, [&answered, target](http::Response r) {
      INFO(r.body);
      CHECK(r.ok());
      answered.push_back(target);
    });
  }
  nlohmann::json json(const std::string& method, const std::string& target, std::string body = {}) {
    auto r = call(method, target, std::move(body));
    INFO(r.body);
    REQUIRE(r.ok());
    return nlohmann::json::parse(r.body);
  }

  fs::path dir_;
  ManualClock clock;
  ManualReactor reactor;
  std::unique_ptr<SqliteStore> store;
  BlobStore blobs;
  std::unique_ptr<Coordinator> co;
  http::Router router;
};

// A bundle of job.yaml plus a.txt and b.txt, packed.
inline std::string bundle(const fs::path& dir, const std::string& job_yaml) {
  fs::create_directories(dir);
  std::ofstream(dir / "job.yaml") << job_yaml;
  std::ofstream(dir / "a.txt") << "x";
  std::ofstream(dir / "b.txt") << "y";
  auto packed = pack_directory(dir);
  REQUIRE(packed.ok());
  return *packed;
}

}  // namespace drover::master::testing
