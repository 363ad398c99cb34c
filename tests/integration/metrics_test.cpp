// GET /metrics on a running cluster: Prometheus text that promtool accepts,
// with the counts a scrape should show.
#include <catch2/catch.hpp>

#include <fstream>
#include <optional>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

TEST_CASE("metrics are Prometheus text that promtool checks without problems", "[integration][metrics]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 2, 2);
  auto bundle = write_bundle(tmp.path / "b", R"(name: m
max_attempts: 1
max_failed_tasks: 1
stages:
  - name: s
    command: ["sh", "-c", "test {index} != 3"]
    inputs: {range: 6}
)");
  std::string job = submit(c, bundle);
  CHECK(c.cli({"wait", job}).exit_code == 4);
  (void)c.client().get("/api/v1/no-such-route");

  // The job may end before the first heartbeat (1 s): scrape once one came.
  std::optional<http::Response> r;
  REQUIRE(wait_until([&] {
    auto got = c.client().get("/metrics");
    if (!got.ok() || got->status != 200) return false;
    r = std::move(*got);
    return r->body.find("drover_heartbeats_total 0\n") == std::string::npos;
  }, 10s));
  const std::string text = r->body;
  CHECK_THAT(r->content_type, Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK_THAT(text, Catch::Contains("drover_workers{state=\"alive\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("drover_cpus 4\n"));
  CHECK_THAT(text, Catch::Contains("drover_event_loop_pauses_total "));
  CHECK_THAT(text, Catch::Contains("drover_jobs{state=\"partial\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("drover_attempt_duration_seconds_count 6\n"));
  CHECK_THAT(text, Catch::Contains("drover_scheduling_latency_seconds_count 6\n"));
  CHECK_THAT(text, Catch::Contains("route=\"/api/v1/jobs/{job}\",method=\"GET\",status=\"200\"}"));
  CHECK_THAT(text, Catch::Contains("route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"));

  const fs::path file = tmp.path / "metrics.txt";
  std::ofstream(file) << text;
  auto which = run_command({"sh", "-c", "command -v promtool"}, 10s, tmp.path);
  if (which.exit_code != 0) {
    WARN("promtool not installed (deploy/install-deps.sh installs it): format not linted");
    return;
  }
  auto check = run_command({"sh", "-c", "promtool check metrics < \"$1\"", "sh", file.string()}, 30s,
                           tmp.path);
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK(check.out.empty());
  CHECK(check.err.empty());
}

TEST_CASE("finished jobs keep their accounting: cpu time and stage times survive a restart", "[integration][metrics]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  // Each task burns some cpu in the shell itself.
  auto bundle = write_bundle(tmp.path / "b", R"(name: burn
stages:
  - name: s
    command: ["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]
    inputs: {range: 2}
)");
  std::string job = submit(c, bundle);
  REQUIRE(c.cli({"wait", job}).exit_code == 0);
  auto check = [&] {
    auto info = c.get("/api/v1/jobs/" + job);
    INFO(info.dump());
    CHECK(info["cpu_seconds"].get<double>() > 0.05);
    const auto& stage = info["stages"][0];
    CHECK(stage["started_at"].get<std::int64_t>() > 0);
    CHECK(stage["finished_at"].get<std::int64_t>() >= stage["started_at"].get<std::int64_t>());
    CHECK(stage["cpu_seconds"].get<double>() == info["cpu_seconds"].get<double>());
    for (const auto& t : tasks_of(c, job)) CHECK(t["attempts"][0]["cpu_ms"].get<std::int64_t>() > 0);
  };
  check();
  c.stop_master();
  c.start_master();
  check();
  auto status = c.cli({"status", job});
  CHECK_THAT(status.out, Catch::Contains("CPU"));
}
