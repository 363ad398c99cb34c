#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "tests/unit/worker_fake_master.hpp"
#include "worker/agent/agent.hpp"
#include "worker/executor/process_executor.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

struct AgentFixture {
  AgentFixture() {
    REQUIRE(make_dirs(src.path / "bundle").ok());
    std::ofstream(src.path / "bundle" / "job.yaml") << "name: t\n";
    auto packed = pack_directory(src.path / "bundle").value();
    bundle_digest = sha256_hex(packed);
    master.blobs[bundle_digest] = packed;
    options.identity.id = "w1";
    options.identity.address = "127.0.0.1:1";
    options.identity.cpus = 2;
    options.shutdown_deadline = 10s;
    options.drain_timeout = 300ms;
  }

  Assignment sleeper(std::int64_t id) {
    Assignment a;
    a.attempt_id = id;
    a.job = "j";
    a.stage = "s";
    a.count = 1;
    a.input_kind = "none";
    a.bundle_digest = bundle_digest;
    a.command = {"sh", "-c", "echo 0.5 > $DROVER_PROGRESS_FILE; sleep 30"};
    return a;
  }

  AttemptReport report_of(std::int64_t id) {
    std::lock_guard lock(master.mu);
    for (const auto& [rid, r] : master.reports) {
      if (rid == id) return r;
    }
    FAIL("no report for attempt " << id);
    return {};
  }

  test::TempDir src, work;
  std::string bundle_digest;
  testing::FakeMaster master;
  SystemClock clock;
  ProcessExecutor executor{clock, ProcessExecutorOptions{300ms, {}}};
  BlobCache cache{work.path, [this](const std::string& d) { return master.fetch_blob(d); }};
  AttemptTable table;
  StopSignal stop;
  AttemptRunner runner{RunnerOptions{work.path, std::nullopt, "/usr/bin:/bin", 1s},
                       RunnerDeps{master, executor, cache, table, clock, stop, nullptr}};
  AgentOptions options;
};

}  // namespace

TEST_CASE_METHOD(AgentFixture, "agent registers, runs work, applies kills and shuts down",
                 "[worker][agent]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(make_error(ErrorCode::not_found, "unknown worker"));
  master.push_work(WorkReply{{sleeper(1), sleeper(2)}, {}});
  agent.start();

  // 404 on the poll -> registered again; both attempts run and report progress.
  REQUIRE(test::wait_until(
      [&] {
        std::lock_guard lock(master.mu);
        if (master.registrations.size() < 2 || master.started.size() < 2) return false;
        for (const auto& hb : master.heartbeats) {
          if (hb.running.size() == 2 && hb.running[0].progress == 0.5 &&
              hb.running[1].progress == 0.5) {
            return true;
          }
        }
        return false;
      },
      10s));
  {
    std::lock_guard lock(master.mu);
    CHECK(master.registrations[0].id == "w1");
    CHECK(master.registrations[0].cpus == 2);
    master.heartbeat_kills = {1};
  }
  REQUIRE(test::wait_until([&] { return master.report_count() == 1; }, 10s));
  CHECK(report_of(1).state == AttemptState::killed);
  CHECK(report_of(1).message == "killed by the master");

  CHECK(agent.shutdown());
  CHECK(master.report_count() == 2);
  CHECK(report_of(2).state == AttemptState::killed);
  CHECK(report_of(2).reason == "drained");
  CHECK(report_of(2).message == "worker drained");
  CHECK(table.size() == 0);
}

TEST_CASE_METHOD(AgentFixture, "agent re-registers with its running attempts", "[worker][agent]") {
  Agent agent(options, master, runner, table, stop);
  master.push_work(WorkReply{{sleeper(5)}, {}});
  agent.start();
  REQUIRE(test::wait_until(
      [&] {
        std::lock_guard lock(master.mu);
        return !master.started.empty();
      },
      10s));
  master.push_work(make_error(ErrorCode::unavailable, "connection reset"));
  REQUIRE(test::wait_until(
      [&] {
        std::lock_guard lock(master.mu);
        return master.registrations.size() >= 2;
      },
      10s));
  {
    std::lock_guard lock(master.mu);
    CHECK(master.registrations.back().running == std::vector<std::int64_t>{5});
  }
  CHECK(agent.shutdown());
  CHECK(report_of(5).message == "worker drained");
}
