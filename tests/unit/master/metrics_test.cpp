// The /metrics exposition: names, types, histogram buckets and label escaping.
#include <catch2/catch.hpp>

#include "master/metrics/metrics.hpp"
#include "master/model/views.hpp"
#include "tests/unit/master/model_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;

TEST_CASE("histograms render cumulative buckets, sum and count", "[metrics]") {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 3.0, 100.0}) h.observe(v);
  std::string out;
  h.render(out, "x_seconds", "Test.");
  CHECK(out ==
        "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.1\"} 2\nx_seconds_bucket{le=\"1\"} 3\n"
        "x_seconds_bucket{le=\"10\"} 4\nx_seconds_bucket{le=\"+Inf\"} 5\n"
        "x_seconds_sum 103.65\nx_seconds_count 5\n");
}

TEST_CASE("the exposition reads the model and the counters", "[metrics]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  m.submit(job_of("name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 3}\n"),
           clock.now());
  schedule(m, clock.now());
  MasterMetrics metrics;
  metrics.heartbeats = 7;
  metrics.count_request("/api/v1/jobs/{job}", "GET", 200);
  metrics.count_request("/api/v1/jobs/{job}", "GET", 200);
  metrics.count_request("", "GET", 404);
  metrics.count_request("/x\"y\\z\n", "POST", 500);
  std::string out = metrics.render(m, {.bytes_received = 1234, .loop_pauses = 7});
  CHECK_THAT(out, Catch::Contains("drover_workers{state=\"alive\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("drover_workers{state=\"dead\"} 0\n"));
  CHECK_THAT(out, Catch::Contains("drover_cpus 4\n"));
  CHECK_THAT(out, Catch::Contains("drover_cpus_used 3\n"));
  CHECK_THAT(out, Catch::Contains("drover_jobs{state=\"running\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("drover_tasks{state=\"assigned\"} 3\n"));
  CHECK_THAT(out, Catch::Contains("drover_heartbeats_total 7\n"));
  CHECK_THAT(out, Catch::Contains("drover_http_request_bytes_total 1234\n"));
  CHECK_THAT(out, Catch::Contains("drover_event_loop_pauses_total 7\n"));
  CHECK_THAT(out, Catch::Contains(
      "drover_http_requests_total{route=\"/api/v1/jobs/{job}\",method=\"GET\",status=\"200\"} 2\n"));
  CHECK_THAT(out, Catch::Contains(
      "drover_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("route=\"/x\\\"y\\\\z\\n\""));
  CHECK_THAT(out, Catch::Contains("# TYPE drover_scheduling_latency_seconds histogram\n"));
  CHECK_THAT(out, Catch::Contains("# TYPE drover_store_commit_seconds histogram\n"));
  CHECK_THAT(out, Catch::Contains("# TYPE drover_attempt_duration_seconds histogram\n"));
}

TEST_CASE("a task's runnable time is its submit, its upstream's end or its backoff", "[metrics][model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  const TimePoint submitted = clock.now();
  m.submit(job_of("name: j\nmax_attempts: 3\nretry_backoff: 2s\nstages:\n  - name: a\n"
                  "    command: [x]\n  - name: b\n    after: [a]\n    command: [y]\n"),
           clock.now());
  clock.advance(std::chrono::seconds(1));
  auto first = schedule(m, clock.now());
  REQUIRE(first.size() == 1);
  CHECK(m.runnable_since(*m.attempt(first[0])) == submitted);
  REQUIRE(m.finished(first[0], "w1", report(AttemptState::failed, 1), clock.now()).ok());
  clock.advance(std::chrono::seconds(5));
  auto retry = schedule(m, clock.now());
  REQUIRE(retry.size() == 1);
  CHECK(m.runnable_since(*m.attempt(retry[0])) == submitted + std::chrono::seconds(1 + 2));
  REQUIRE(m.finished(retry[0], "w1", report(AttemptState::succeeded), clock.now()).ok());
  const TimePoint a_done = clock.now();
  clock.advance(std::chrono::seconds(1));
  auto downstream = schedule(m, clock.now());
  REQUIRE(downstream.size() == 1);
  CHECK(m.runnable_since(*m.attempt(downstream[0])) == a_done);
}

TEST_CASE("a stage's ETA is the work left at the mean run time over the running attempts", "[model]") {
  Stage stage;
  stage.tasks.resize(10);
  CHECK(stage_eta_ms(stage, 0) == -1);  // nothing finished: unknown
  stage.run_ms = {1000, 3000};
  stage.run_ms_sum = 4000;
  stage.succeeded = 2;
  stage.active = {2, 3, 4, 5};
  // 10 - 2.5 done = 7.5 tasks x 2000 ms / 4 running
  CHECK(stage_eta_ms(stage, 2.5) == 3750);
  stage.failed = 1;
  CHECK(stage_eta_ms(stage, 9) == 0);
}

TEST_CASE("accounting: cpu time and start and end of each stage", "[model]") {
  ManualClock clock;
  Model m;
  m.register_worker(reg("w1", 4), clock.now());
  JobId id = m.submit(job_of("name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 2}\n"),
                      clock.now()).id;
  auto a = schedule(m, clock.now());
  REQUIRE(a.size() == 2);
  const TimePoint start = clock.now();
  for (AttemptId id2 : a) REQUIRE(m.started(id2, "w1", clock.now()).ok());
  clock.advance(std::chrono::seconds(3));
  AttemptReport r = report(AttemptState::succeeded);
  r.cpu_ms = 1500;
  REQUIRE(m.finished(a[0], "w1", r, clock.now()).ok());
  JobInfo mid = job_info(m, *m.job(id), true);
  CHECK(mid.stages[0].started_at == to_millis(start));
  CHECK(mid.stages[0].finished_at == 0);  // a task is still running
  clock.advance(std::chrono::seconds(2));
  r.cpu_ms = 500;
  REQUIRE(m.finished(a[1], "w1", r, clock.now()).ok());
  JobInfo done = job_info(m, *m.job(id), true);
  CHECK(done.stages[0].cpu_seconds == Approx(2.0));
  CHECK(done.cpu_seconds == Approx(2.0));
  CHECK(done.stages[0].finished_at == to_millis(clock.now()));
  CHECK(task_info(m, *m.job(id), 0, m.task(TaskKey{id, 0, 0})).attempts[0].cpu_ms == 1500);
}
