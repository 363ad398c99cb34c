#include "master/master_server.hpp"

#include <csignal>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
#include "common/http/event_loop.hpp"
#include "common/http/server.hpp"
#include "master/api/access.hpp"
#include "master/api/routes.hpp"
#include "master/api/worker_fetch.hpp"
#include "master/coordinator/coordinator.hpp"
#include "master/store/sqlite_store.hpp"

namespace drover::master {

struct MasterServer::Impl {
  MasterConfig config;
  SystemClock clock;
  http::EventLoop loop;
  EventLoopReactor reactor{loop};
};

MasterServer::MasterServer(MasterConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}

MasterServer::~MasterServer() = default;

Result<int> MasterServer::run() {
  const MasterConfig& cfg = impl_->config;
  std::filesystem::path data(cfg.data_dir);
  const std::filesystem::path shared = shared_store_root(cfg.output_store);
  // With a shared output_store the blobs live there too: workers read and write them directly.
  const std::filesystem::path blob_root = shared.empty() ? data / "blobs" : shared / "blobs";
  DROVER_TRY(make_dirs(data));
  DROVER_TRY(make_dirs(blob_root));
  if (!shared.empty()) {
    DROVER_TRY(make_dirs(shared / "attempts"));
    DROVER_TRY(make_dirs(shared / "outputs"));
  }
  auto access = AccessControl::load(cfg.tokens_file, cfg.worker_token_file);
  if (!access.ok()) return access.error();
  auto store = SqliteStore::open(data / "state.db");
  if (!store.ok()) return store.error();
  // Fault injection for tests only; inert unless DROVER_CRASH_AT is set.
  const char* crash_at = std::getenv("DROVER_CRASH_AT");
  auto crash = CrashPoints::parse(crash_at ? crash_at : "");
  if (!crash.ok()) return crash.error();
  if (crash_at && *crash_at) spdlog::warn("DROVER_CRASH_AT armed: will exit 137 at {}", crash->describe());
  BlobStore blobs(blob_root, *crash);
  CoordinatorOptions copts;
  copts.worker_timeout = cfg.worker_timeout;
  copts.heartbeat_interval = cfg.heartbeat_interval;
  copts.exclude_for = cfg.exclude_for;
  copts.shared_root = shared;
  copts.retention = cfg.retention;
  Coordinator coordinator(impl_->clock, impl_->reactor, **store, blobs, copts, *crash);
  DROVER_TRY(coordinator.start());

  http::Router router;
  ApiOptions api;
  api.max_bundle_size = cfg.max_bundle_size;
  api.fetch_from_worker = make_thread_worker_fetch(std::chrono::seconds(10));
  std::atomic<std::uint64_t> bytes_received{0};
  api.bytes_received = &bytes_received;
  api.loop = &impl_->loop;
  add_public_routes(router, coordinator, api);
  router.observe([&coordinator](const std::string& route, const std::string& method, int status) {
    coordinator.metrics().count_request(route, method, status);
  });
  add_internal_routes(router, coordinator);
  router.guard([&access](http::Request& req, const std::string& method, const std::string& pattern) {
    return access->check(req, method, pattern);
  });
  if (!access->enabled()) spdlog::warn("auth is off: anyone who can reach {} can run commands", cfg.listen);

  http::ServerOptions sopts;
  sopts.listen = cfg.listen;
  sopts.max_body_bytes = 64ULL << 20;  // outputs and logs; bundles get their own limit
  sopts.body_limits = {{"/api/v1/jobs", cfg.max_bundle_size}};
  sopts.bytes_received = &bytes_received;
  // Each worker holds a few keep-alive connections (its long poll, heartbeats,
  // reports): 10,000 workers need far more than a web server's 1,024. The
  // systemd unit's LimitNOFILE=65536 makes room; a lower limit lowers this (logged).
  sopts.max_connections = 65000;
  sopts.tls_cert = cfg.tls_cert;  // both empty: plain HTTP
  sopts.tls_key = cfg.tls_key;
  http::Server server(impl_->loop, router, sopts);
  auto bound = server.start();
  if (!bound.ok()) return bound.error();
  DROVER_TRY(write_file_atomic(data / "master.addr", *bound + "\n"));
  spdlog::info("listening on {} (data in {}, outputs in {})", *bound, cfg.data_dir,
               shared.empty() ? std::string("the master's blob store") : shared.string());

  impl_->loop.on_signals({SIGTERM, SIGINT}, [this, &server](int sig) {
    spdlog::info("signal {}: shutting down", sig);
    server.stop();
    impl_->loop.stop();
  });
  impl_->loop.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace drover::master
