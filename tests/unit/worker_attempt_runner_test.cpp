#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "tests/unit/worker_fake_master.hpp"
#include "worker/agent/attempt_runner.hpp"
#include "worker/executor/process_executor.hpp"
#include "worker/log_server.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

using testing::FakeMaster;

struct Fixture {
  Fixture() {
    REQUIRE(make_dirs(src.path / "bundle").ok());
    std::ofstream(src.path / "bundle" / "job.yaml") << "name: t\n";
    std::ofstream(src.path / "bundle" / "greeting") << "hello";
    auto packed = pack_directory(src.path / "bundle").value();
    bundle_digest = sha256_hex(packed);
    master.blobs[bundle_digest] = packed;
  }

  Assignment assignment(std::int64_t id, const std::string& script) {
    return testing::sh_assignment(id, bundle_digest, script);
  }

  // Admits and runs; returns the single report (or nullopt).
  std::optional<AttemptReport> run(const Assignment& a) {
    auto attempt = runner.admit(a);
    REQUIRE(attempt);
    runner.run(a, attempt);
    CHECK(table.size() == 0);
    CHECK_FALSE(std::filesystem::exists(attempt->paths().root));
    if (master.reports.empty()) return std::nullopt;
    REQUIRE(master.reports.size() == 1);
    CHECK(master.reports[0].first == a.attempt_id);
    return master.reports[0].second;
  }

  test::TempDir src, work;
  std::string bundle_digest;
  FakeMaster master;
  ManualClock clock;
  SystemClock steady;  // the executor needs real time for poll deadlines
  ProcessExecutor executor{steady, ProcessExecutorOptions{300ms, {}}};
  BlobCache cache{work.path, [this](const std::string& d) { return master.fetch_blob(d); }};
  AttemptTable table;
  StopSignal stop;
  AttemptRunner runner{RunnerOptions{work.path, std::nullopt, "/usr/bin:/bin", 1s},
                       RunnerDeps{master, executor, cache, table, clock, stop, nullptr}};
};

}  // namespace

TEST_CASE_METHOD(Fixture, "a successful attempt uploads its output and logs", "[worker][runner]") {
  auto r = run(assignment(1, "cat greeting > $DROVER_OUTPUT_DIR/result; echo out; echo err >&2"));
  REQUIRE(r);
  CHECK(r->state == AttemptState::succeeded);
  CHECK(r->reason.empty());
  CHECK(r->exit_code == 0);
  CHECK(r->started_at == to_millis(clock.now()));
  REQUIRE(master.blobs.count(r->output_digest) == 1);
  CHECK(r->output_bytes == master.blobs[r->output_digest].size());
  CHECK(master.blobs.at(r->stdout_digest) == "out\n");
  CHECK(master.blobs.at(r->stderr_digest) == "err\n");
  test::TempDir out;
  REQUIRE(unpack_archive(master.blobs[r->output_digest], out.path).ok());
  CHECK(read_file(out.path / "result").value() == "hello");
}

TEST_CASE_METHOD(Fixture, "only a task still running after started_report_delay reports started",
                 "[worker][runner]") {
  auto runner_with = [&](Duration delay) {
    RunnerOptions options{work.path, std::nullopt, "/usr/bin:/bin", 1s};
    options.started_report_delay = delay;
    return AttemptRunner{options, RunnerDeps{master, executor, cache, table, clock, stop, nullptr}};
  };
  auto run_on = [&](AttemptRunner& r, const Assignment& a) {
    auto attempt = r.admit(a);
    REQUIRE(attempt);
    r.run(a, attempt);
    REQUIRE(master.reports.size() == 1);
    auto report = master.reports[0].second;
    master.reports.clear();
    return report;
  };
  // A task that ends within the delay is reported once: its finished report
  // says when it started.
  AttemptRunner patient = runner_with(30s);
  auto quick = run_on(patient, assignment(1, "exit 0"));
  CHECK(quick.state == AttemptState::succeeded);
  CHECK(quick.started_at == to_millis(clock.now()));
  CHECK(master.started.empty());
  // One still running after it is reported started as well.
  AttemptRunner eager = runner_with(0ms);
  auto slow = run_on(eager, assignment(2, "sleep 0.3"));
  CHECK(slow.state == AttemptState::succeeded);
  CHECK(master.started == std::vector<std::int64_t>{2});
}

TEST_CASE_METHOD(Fixture, "failed attempts say why", "[worker][runner]") {
  SECTION("exit code") {
    auto r = run(assignment(2, "exit 4"));
    REQUIRE(r);
    CHECK(r->state == AttemptState::failed);
    CHECK(r->reason == "exit_code");
    CHECK(r->message == "exit code 4");
    CHECK(r->exit_code == 4);
    CHECK(r->output_digest.empty());
    CHECK(r->stdout_digest.empty());
  }
  SECTION("signal") {
    auto r = run(assignment(3, "kill -KILL $$"));
    REQUIRE(r);
    CHECK(r->reason == "signal");
    CHECK(r->message == "killed by signal 9 (SIGKILL)");
  }
  SECTION("timeout") {
    auto a = assignment(4, "sleep 30");
    a.timeout_ms = 100;
    auto r = run(a);
    REQUIRE(r);
    CHECK(r->reason == "timeout");
    CHECK(r->message == "timed out after 100ms");
  }
  SECTION("bundle download") {
    auto a = assignment(5, "true");
    a.bundle_digest = std::string(64, 'f');
    auto r = run(a);
    REQUIRE(r);
    CHECK(r->reason == "drover_error");
    CHECK_THAT(r->message, Catch::Contains("download"));
    CHECK(master.started.empty());
  }
  SECTION("spawn") {
    auto a = assignment(6, "");
    a.command = {"/nonexistent/tool"};
    auto r = run(a);
    REQUIRE(r);
    CHECK(r->reason == "drover_error");
    CHECK_THAT(r->message, Catch::Contains("spawn failed"));
  }
}

TEST_CASE_METHOD(Fixture, "a fenced attempt is killed and not reported", "[worker][runner]") {
  master.fence_on_start = true;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(assignment(7, "sleep 30"));
  CHECK_FALSE(r);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
}

TEST_CASE_METHOD(Fixture, "a kill request ends the attempt as killed", "[worker][runner]") {
  auto a = assignment(8, "sleep 30");
  auto attempt = runner.admit(a);
  REQUIRE(attempt);
  CHECK_FALSE(runner.admit(a));  // duplicates are refused
  std::thread t([&] { runner.run(a, attempt); });
  REQUIRE(test::wait_until(
      [&] {
        std::lock_guard lock(master.mu);
        return !master.started.empty();
      },
      10s));
  CHECK(table.kill({8, 999}, "killed", "killed by the master") == 1);
  t.join();
  REQUIRE(master.reports.size() == 1);
  const auto& r = master.reports[0].second;
  CHECK(r.state == AttemptState::killed);
  CHECK(r.reason == "killed");
  CHECK(r.message == "killed by the master");
  CHECK(r.signal == SIGTERM);
}

TEST_CASE_METHOD(Fixture, "log server serves a running attempt's logs", "[worker][logs]") {
  auto a = assignment(10, "true");
  auto attempt = runner.admit(a);
  REQUIRE(attempt);
  REQUIRE(make_dirs(attempt->paths().root).ok());
  std::ofstream(attempt->paths().stdout_file) << "0123456789";
  http::Request req;
  req.params["attempt_id"] = "10";
  req.query["offset"] = "4";
  auto resp = serve_log(table, req);
  REQUIRE(resp.ok());
  CHECK(resp->status == 200);
  CHECK(resp->body == "456789");
  CHECK(resp->header("X-Drover-Log-Size") == "10");
  req.query["stream"] = "stderr";
  CHECK(serve_log(table, req)->body.empty());
  req.query["stream"] = "other";
  CHECK_FALSE(serve_log(table, req).ok());
  req.params["attempt_id"] = "11";
  req.query["stream"] = "stdout";
  auto missing = serve_log(table, req);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
  table.remove(10);
}

TEST_CASE("advertised address replaces wildcard hosts", "[worker][logs]") {
  CHECK(advertised_address("127.0.0.1:7071", "node") == "127.0.0.1:7071");
  CHECK(advertised_address("0.0.0.0:4000", "node") == "node:4000");
}
