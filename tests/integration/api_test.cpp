// The public REST API (SPEC §6) against a real master and workers: each
// endpoint's success shape, its error paths with the error shape
// {"error": {"code", "message", "field"}}, and ?limit=&after= pagination.
// One cluster per TEST_CASE; checks run one after another on it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "common/archive/archive.hpp"
#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// One request; REQUIREs that the master answered at all.
http::Response call(Cluster& c, const std::string& method, const std::string& target,
                    std::string body = {}, std::string content_type = {}) {
  auto r = c.client().request(method, target, std::move(body), std::move(content_type));
  INFO(method << " " << target << ": " << (r.ok() ? "" : r.error().describe()));
  REQUIRE(r.ok());
  return *r;
}

nlohmann::json json_of(const http::Response& r) {
  INFO(r.body);
  CHECK_THAT(r.content_type, Catch::StartsWith("application/json"));
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  REQUIRE(!j.is_discarded());
  return j;
}

// A 2xx JSON answer with `status`.
nlohmann::json ok_json(Cluster& c, const std::string& method, const std::string& target,
                       int status = 200, std::string body = {}, std::string content_type = {}) {
  auto r = call(c, method, target, std::move(body), std::move(content_type));
  INFO(method << " " << target << ": " << r.body);
  CHECK(r.status == status);
  return json_of(r);
}

// The request fails with `status`, drover's error shape, `code`, a message, and
// `field` (empty: the error names no field, and the key is absent).
void expect_error(Cluster& c, const std::string& method, const std::string& target, int status,
                  const std::string& code, const std::string& field, std::string body = {},
                  std::string content_type = {}) {
  auto r = call(c, method, target, std::move(body), std::move(content_type));
  INFO(method << " " << target << " -> " << r.status << " " << r.body);
  CHECK(r.status == status);
  auto j = json_of(r);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  const auto& e = j["error"];
  CHECK(e.value("code", "") == code);
  CHECK(!e.value("message", "").empty());
  if (field.empty()) {
    CHECK(!e.contains("field"));
  } else {
    CHECK(e.value("field", "") == field);
  }
}

struct Walk {
  std::vector<std::string> items;  // ids (jobs) or "stage/index" (tasks), in page order
  std::vector<std::size_t> pages;  // page sizes
};

// Follows `next` from `target` (which has a query already) until it is empty.
Walk walk(Cluster& c, const std::string& target, const std::string& list_key) {
  Walk w;
  std::string after;
  for (int page = 0; page < 50; ++page) {
    auto j = c.get(target + (after.empty() ? "" : "&after=" + http::url_encode(after)));
    REQUIRE(j[list_key].is_array());
    for (const auto& item : j[list_key]) {
      w.items.push_back(list_key == "jobs" ? item["id"].get<std::string>()
                                           : item["stage"].get<std::string>() + "/" +
                                                 std::to_string(item["index"].get<int>()));
    }
    w.pages.push_back(j[list_key].size());
    after = j.value("next", "");
    if (after.empty()) return w;
    CHECK(after == w.items.back());  // the cursor is the page's last item
  }
  FAIL("pagination of " << target << " did not end");
  return w;
}

std::vector<std::string> reversed(std::vector<std::string> v) {
  std::reverse(v.begin(), v.end());
  return v;
}

std::string pack(const fs::path& dir) {
  auto packed = pack_directory(dir);
  REQUIRE(packed.ok());
  return *packed;
}

std::string post_job(Cluster& c, const std::string& bundle, const std::string& query = "") {
  auto j = ok_json(c, "POST", "/api/v1/jobs" + query, 201, bundle, "application/gzip");
  REQUIRE(j.contains("id"));
  return j["id"];
}

bool ended(const std::string& state) {
  return state == "succeeded" || state == "partial" || state == "failed" || state == "cancelled";
}

void wait_ended(Cluster& c, const std::vector<std::string>& jobs) {
  bool done = wait_until(
      [&] {
        return std::all_of(jobs.begin(), jobs.end(),
                           [&](const std::string& j) { return ended(job_state(c, j)); });
      },
      30s);
  REQUIRE(done);
}

// Waits until task `stage/index` of `job` has a running attempt.
void wait_running(Cluster& c, const std::string& job, const std::string& stage) {
  REQUIRE(wait_until(
      [&] {
        auto t = c.get("/api/v1/jobs/" + job + "/tasks?stage=" + stage)["tasks"][0];
        return t["state"] == "running";
      },
      20s));
}

}  // namespace

TEST_CASE("the job endpoints answer with their shapes, page newest first and refuse bad requests",
          "[integration][api]") {
  TempDir tmp;
  // max_bundle_size: small, so that a 413 needs only a small body.
  Cluster c(tmp.path / "cluster", {"--max-bundle-size", "64Ki"});
  c.start_worker("w1", 2);
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));

  // --- liveness, readiness, description, metrics
  CHECK(ok_json(c, "GET", "/healthz")["status"] == "ok");
  CHECK(ok_json(c, "GET", "/readyz")["status"] == "ready");
  auto spec = ok_json(c, "GET", "/api/v1/openapi.json");
  CHECK_THAT(spec.value("openapi", ""), Catch::StartsWith("3."));
  for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/{job}", "/api/v1/jobs/{job}/tasks",
                           "/api/v1/jobs/{job}/cancel", "/api/v1/workers/{id}/drain",
                           "/api/v1/cluster", "/healthz", "/readyz", "/metrics"}) {
    CHECK(spec["paths"].contains(path));
  }
  auto metrics = call(c, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.content_type, Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK_THAT(metrics.body, Catch::Contains("drover_workers{state=\"alive\"} 2\n"));

  // --- the router: unknown path 404, known path with another method 405
  expect_error(c, "GET", "/api/v1/no-such-thing", 404, "not_found", "");
  expect_error(c, "GET", "/api/v2/jobs", 404, "not_found", "");
  expect_error(c, "DELETE", "/api/v1/jobs", 405, "invalid_argument", "");
  expect_error(c, "GET", "/api/v1/jobs/j-000001/cancel", 405, "invalid_argument", "");
  expect_error(c, "PUT", "/healthz", 405, "invalid_argument", "");
  expect_error(c, "POST", "/api/v1/workers", 405, "invalid_argument", "");
  auto not_allowed = call(c, "PUT", "/api/v1/jobs");
  CHECK(not_allowed.status == 405);
  CHECK(not_allowed.header("Allow") == "POST, GET");

  // --- workers and drain
  auto workers = ok_json(c, "GET", "/api/v1/workers")["workers"];
  REQUIRE(workers.size() == 2);
  std::set<std::string> ids;
  for (const auto& w : workers) {
    ids.insert(w["id"].get<std::string>());
    CHECK(w["state"] == "alive");
    CHECK(!w["address"].get<std::string>().empty());
    CHECK(w["heartbeat_age_ms"].get<std::int64_t>() >= 0);
  }
  CHECK(ids == std::set<std::string>{"w1", "w2"});
  auto drained = ok_json(c, "POST", "/api/v1/workers/w2/drain");
  CHECK(drained["id"] == "w2");
  CHECK(drained["state"] == "draining");
  // Draining a draining worker again is idempotent: 200, still draining.
  CHECK(ok_json(c, "POST", "/api/v1/workers/w2/drain")["state"] == "draining");
  expect_error(c, "POST", "/api/v1/workers/no-such-worker/drain", 404, "not_found", "worker");
  expect_error(c, "GET", "/api/v1/workers/w2/drain", 405, "invalid_argument", "");
  const auto after_drain = ok_json(c, "GET", "/api/v1/workers");
  for (const auto& w : after_drain["workers"]) {
    CHECK(w["state"] == (w["id"] == "w2" ? "draining" : "alive"));
  }

  // --- submit: refused bodies and parameters; nothing is stored
  const std::string ok_bundle = pack(write_bundle(tmp.path / "ok", R"(name: ok
max_attempts: 1
stages:
  - name: s
    command: ["true"]
)"));
  const std::string fail_bundle = pack(write_bundle(tmp.path / "fail", R"(name: fail
max_attempts: 1
stages:
  - name: s
    command: ["false"]
)"));
  const std::string hold_bundle = pack(write_bundle(tmp.path / "hold", R"(name: hold
stages:
  - name: s
    command: ["sh", "-c", "echo holding; exec sleep 30"]
)"));
  expect_error(c, "POST", "/api/v1/jobs", 400, "invalid_spec", "", "not a tarball",
               "application/gzip");
  expect_error(c, "POST", "/api/v1/jobs", 400, "invalid_spec", "", "", "application/gzip");
  fs::create_directories(tmp.path / "no-spec");
  std::ofstream(tmp.path / "no-spec" / "x.txt") << "x";
  expect_error(c, "POST", "/api/v1/jobs", 400, "invalid_spec", "job.yaml",
               pack(tmp.path / "no-spec"), "application/gzip");
  expect_error(c, "POST", "/api/v1/jobs", 400, "invalid_spec", "stages[1].after",
               pack(write_bundle(tmp.path / "bad", R"(name: bad
stages:
  - name: a
    command: ["true"]
  - name: b
    after: [nope]
    command: ["true"]
)")),
               "application/gzip");
  expect_error(c, "POST", "/api/v1/jobs?priority=abc", 400, "invalid_argument", "priority",
               ok_bundle, "application/gzip");
  expect_error(c, "POST", "/api/v1/jobs?priority=10000000", 400, "invalid_argument", "priority",
               ok_bundle, "application/gzip");
  expect_error(c, "POST", "/api/v1/jobs?name=Not%20A%20Name", 400, "invalid_spec", "name",
               ok_bundle, "application/gzip");
  // Over --max-bundle-size: 413 with the error shape. (The server's per-route
  // body limits themselves are covered by tests/component/http_server_test.cpp.)
  expect_error(c, "POST", "/api/v1/jobs", 413, "too_large", "", std::string(200 << 10, 'x'),
               "application/gzip");
  CHECK(ok_json(c, "GET", "/api/v1/jobs")["jobs"].empty());

  // --- submit: 201 with the job; 3 that succeed and 2 that fail, alternating
  auto first =
      ok_json(c, "POST", "/api/v1/jobs?name=first&priority=5", 201, ok_bundle, "application/gzip");
  CHECK(first["name"] == "first");
  CHECK(first["priority"] == 5);
  CHECK(first["task_count"] == 1);
  CHECK(first["stages"].size() == 1);
  CHECK(first["stages"][0]["name"] == "s");
  CHECK(first["bundle_digest"].get<std::string>().size() == 64);
  CHECK(first["submitted_at"].get<std::int64_t>() > 0);
  std::vector<std::string> submitted = {first["id"]};
  for (int i = 1; i < 5; ++i) submitted.push_back(post_job(c, i % 2 ? fail_bundle : ok_bundle));
  CHECK(std::set<std::string>(submitted.begin(), submitted.end()).size() == 5);
  wait_ended(c, submitted);
  const std::vector<std::string> succeeded = {submitted[0], submitted[2], submitted[4]};
  const std::vector<std::string> failed = {submitted[1], submitted[3]};
  for (const auto& id : succeeded) CHECK(job_state(c, id) == "succeeded");
  for (const auto& id : failed) CHECK(job_state(c, id) == "failed");

  // --- GET one job: stages with counts
  auto one = ok_json(c, "GET", "/api/v1/jobs/" + submitted[1]);
  CHECK(one["id"] == submitted[1]);
  CHECK(one["state"] == "failed");
  CHECK(one["counts"]["failed"] == 1);
  REQUIRE(one["stages"].size() == 1);
  CHECK(one["stages"][0]["task_count"] == 1);
  CHECK(one["stages"][0]["counts"]["failed"] == 1);

  // --- a running job: cluster counts, rerun --failed-only refused, cancel
  const std::string hold = post_job(c, hold_bundle);
  submitted.push_back(hold);
  wait_running(c, hold, "s");
  auto cluster = ok_json(c, "GET", "/api/v1/cluster");
  INFO(cluster.dump());
  CHECK(cluster["jobs"] == nlohmann::json{{"succeeded", 3}, {"failed", 2}, {"running", 1}});
  CHECK(cluster["tasks"] == nlohmann::json{{"running", 1}});  // unfinished jobs only
  CHECK(cluster["workers"] == nlohmann::json{{"alive", 1}, {"draining", 1}});
  CHECK(cluster["cpus"] == 3.0);
  CHECK(cluster["cpus_used"] == 1.0);
  CHECK(cluster["bytes_received"].get<std::uint64_t>() > 0);
  expect_error(c, "POST", "/api/v1/jobs/" + hold + "/rerun?failed_only=1", 409, "conflict", "");
  expect_error(c, "POST", "/api/v1/jobs/" + hold + "/rerun?failed_only=maybe", 400,
               "invalid_argument", "failed_only");
  auto cancelled = ok_json(c, "POST", "/api/v1/jobs/" + hold + "/cancel");
  CHECK(cancelled["id"] == hold);
  CHECK(cancelled["state"] == "cancelled");
  CHECK(!cancelled["message"].get<std::string>().empty());
  // Cancelling a job that has ended: 409, and the job keeps its state.
  expect_error(c, "POST", "/api/v1/jobs/" + hold + "/cancel", 409, "conflict", "");
  expect_error(c, "POST", "/api/v1/jobs/" + succeeded[0] + "/cancel", 409, "conflict", "");
  CHECK(job_state(c, succeeded[0]) == "succeeded");

  // --- rerun --failed-only of a failed job: 201 with a new job that names the old
  auto rerun = ok_json(c, "POST", "/api/v1/jobs/" + failed[0] + "/rerun?failed_only=1", 201);
  CHECK(rerun["rerun_of"] == failed[0]);
  const std::string again = rerun["id"];
  CHECK(std::find(submitted.begin(), submitted.end(), again) == submitted.end());
  submitted.push_back(again);
  wait_ended(c, {again});
  CHECK(job_state(c, again) == "failed");

  // --- pagination: every job once, newest first, 2 per page
  auto all = walk(c, "/api/v1/jobs?limit=2", "jobs");
  CHECK(all.items == reversed(submitted));
  CHECK(all.pages == std::vector<std::size_t>{2, 2, 2, 1});
  CHECK(walk(c, "/api/v1/jobs?limit=1000", "jobs").items == reversed(submitted));
  CHECK(walk(c, "/api/v1/jobs?limit=7", "jobs").pages == std::vector<std::size_t>{7});
  auto list = ok_json(c, "GET", "/api/v1/jobs?limit=1");
  CHECK(list["jobs"][0]["id"] == again);
  CHECK(list["jobs"][0]["stages"].empty());  // list views leave the stages out
  CHECK(list["next"] == again);
  // The state filter with pagination.
  auto ok_walk = walk(c, "/api/v1/jobs?state=succeeded&limit=2", "jobs");
  CHECK(ok_walk.items == reversed(succeeded));
  CHECK(ok_walk.pages == std::vector<std::size_t>{2, 1});
  auto failed_walk = walk(c, "/api/v1/jobs?state=failed&limit=2", "jobs");
  CHECK(failed_walk.items == std::vector<std::string>{again, failed[1], failed[0]});
  CHECK(failed_walk.pages == std::vector<std::size_t>{2, 1});
  // An exact fit: no `next` when nothing follows.
  CHECK(walk(c, "/api/v1/jobs?state=failed&limit=3", "jobs").pages == std::vector<std::size_t>{3});
  CHECK(walk(c, "/api/v1/jobs?state=cancelled&limit=2", "jobs").items ==
        std::vector<std::string>{hold});
  auto running = ok_json(c, "GET", "/api/v1/jobs?state=running&limit=2");
  CHECK(running["jobs"].empty());
  CHECK(running["next"] == "");
  // A cursor whose job does not match the filter (its state changed between
  // pages) still pages on from its place.
  CHECK(ok_json(c, "GET", "/api/v1/jobs?state=failed&after=" + succeeded[2])["jobs"].size() == 2);
  CHECK(ok_json(c, "GET", "/api/v1/jobs?after=" + submitted[0])["jobs"].empty());
  // Bad list parameters: 400 naming the parameter.
  expect_error(c, "GET", "/api/v1/jobs?after=j-999999", 400, "invalid_argument", "after");
  expect_error(c, "GET", "/api/v1/jobs?limit=2&after=nonsense", 400, "invalid_argument", "after");
  expect_error(c, "GET", "/api/v1/jobs?limit=0", 400, "invalid_argument", "limit");
  expect_error(c, "GET", "/api/v1/jobs?limit=-1", 400, "invalid_argument", "limit");
  expect_error(c, "GET", "/api/v1/jobs?limit=abc", 400, "invalid_argument", "limit");
  expect_error(c, "GET", "/api/v1/jobs?limit=2x", 400, "invalid_argument", "limit");
  expect_error(c, "GET", "/api/v1/jobs?limit=1001", 400, "invalid_argument", "limit");
  expect_error(c, "GET", "/api/v1/jobs?state=bogus", 400, "invalid_argument", "state");

  // --- an unknown job: 404 naming `job` on every job route
  const std::string nope = "/api/v1/jobs/j-999999";
  expect_error(c, "GET", nope, 404, "not_found", "job");
  expect_error(c, "GET", nope + "/tasks", 404, "not_found", "job");
  expect_error(c, "GET", nope + "/tasks/s/0/logs", 404, "not_found", "job");
  expect_error(c, "GET", nope + "/tasks/s/0/output", 404, "not_found", "job");
  expect_error(c, "POST", nope + "/cancel", 404, "not_found", "job");
  expect_error(c, "POST", nope + "/rerun", 404, "not_found", "job");
  expect_error(c, "POST", nope + "/rerun?failed_only=1", 404, "not_found", "job");

  // --- a worker that left (SIGTERM: it drains and says goodbye) is no live
  // worker to drain: 404 naming `worker`
  REQUIRE(c.worker("w2")->stop().exited());
  REQUIRE(wait_until(
      [&] {
        const auto now = c.get("/api/v1/workers");
        for (const auto& w : now["workers"]) {
          if (w["id"] == "w2") return w["state"] == "dead";
        }
        return false;
      },
      10s));
  expect_error(c, "POST", "/api/v1/workers/w2/drain", 404, "not_found", "worker");

  // The counts once everything ended.
  cluster = ok_json(c, "GET", "/api/v1/cluster");
  CHECK(cluster["jobs"] == nlohmann::json{{"succeeded", 3}, {"failed", 3}, {"cancelled", 1}});
  CHECK(cluster["tasks"] == nlohmann::json::object());
  CHECK(cluster["workers"] == nlohmann::json{{"alive", 1}, {"dead", 1}});
  CHECK(cluster["cpus"] == 2.0);
}

TEST_CASE("the task endpoints page through stages and filters and serve logs and outputs",
          "[integration][api]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 4);
  // 2 stages x 5 tasks; b/3 fails, which max_failed_tasks allows: partial.
  const std::string job = submit(c, write_bundle(tmp.path / "grid", R"(name: grid
max_attempts: 1
max_failed_tasks: 1
stages:
  - name: a
    command: ["sh", "-c", "echo out a {index}; echo err a {index} >&2; echo {index} > $DROVER_OUTPUT_DIR/v"]
    inputs: {range: 5}
  - name: b
    after: [a]
    command: ["sh", "-c", "echo out b {index}; test {index} != 3 && echo {index} > $DROVER_OUTPUT_DIR/v"]
    inputs: {range: 5}
)"));
  wait_ended(c, {job});
  REQUIRE(job_state(c, job) == "partial");
  const std::string base = "/api/v1/jobs/" + job;

  // --- the task list: shape
  auto first = ok_json(c, "GET", base + "/tasks?limit=1");
  REQUIRE(first["tasks"].size() == 1);
  const auto& t0 = first["tasks"][0];
  CHECK(t0["job"] == job);
  CHECK(t0["stage"] == "a");
  CHECK(t0["index"] == 0);
  CHECK(t0["state"] == "succeeded");
  CHECK(!t0["output_digest"].get<std::string>().empty());
  REQUIRE(t0["attempts"].size() == 1);
  CHECK(t0["attempts"][0]["number"] == 1);
  CHECK(t0["attempts"][0]["worker"] == "w1");
  CHECK(t0["attempts"][0]["exit_code"] == 0);
  CHECK(first["next"] == "a/0");

  // --- pagination: each task once, in stage then index order
  const std::vector<std::string> all_a = {"a/0", "a/1", "a/2", "a/3", "a/4"};
  const std::vector<std::string> all_b = {"b/0", "b/1", "b/2", "b/3", "b/4"};
  std::vector<std::string> all = all_a;
  all.insert(all.end(), all_b.begin(), all_b.end());
  auto w = walk(c, base + "/tasks?limit=3", "tasks");
  CHECK(w.items == all);
  CHECK(w.pages == std::vector<std::size_t>{3, 3, 3, 1});
  CHECK(walk(c, base + "/tasks?limit=10", "tasks").pages == std::vector<std::size_t>{10});
  CHECK(walk(c, base + "/tasks?limit=3&stage=b", "tasks").items == all_b);
  CHECK(walk(c, base + "/tasks?limit=3&stage=a", "tasks").pages == std::vector<std::size_t>{3, 2});
  auto ok_walk = walk(c, base + "/tasks?limit=3&state=succeeded", "tasks");
  CHECK(ok_walk.items ==
        std::vector<std::string>{"a/0", "a/1", "a/2", "a/3", "a/4", "b/0", "b/1", "b/2", "b/4"});
  CHECK(ok_walk.pages == std::vector<std::size_t>{3, 3, 3});
  CHECK(walk(c, base + "/tasks?limit=2&stage=b&state=succeeded", "tasks").items ==
        std::vector<std::string>{"b/0", "b/1", "b/2", "b/4"});
  CHECK(walk(c, base + "/tasks?limit=3&state=failed", "tasks").items ==
        std::vector<std::string>{"b/3"});
  auto none = ok_json(c, "GET", base + "/tasks?stage=a&state=failed");
  CHECK(none["tasks"].empty());
  CHECK(none["next"] == "");
  // A cursor in a stage the filter leaves out pages on from its place.
  CHECK(walk(c, base + "/tasks?limit=3&stage=b&after=a/4", "tasks").items == all_b);
  CHECK(ok_json(c, "GET", base + "/tasks?stage=a&after=b/0")["tasks"].empty());
  CHECK(ok_json(c, "GET", base + "/tasks?after=b/4")["tasks"].empty());
  // Bad list parameters.
  expect_error(c, "GET", base + "/tasks?after=zz/0", 400, "invalid_argument", "after");
  expect_error(c, "GET", base + "/tasks?after=a/5", 400, "invalid_argument", "after");
  expect_error(c, "GET", base + "/tasks?after=a/x", 400, "invalid_argument", "after");
  expect_error(c, "GET", base + "/tasks?after=a", 400, "invalid_argument", "after");
  expect_error(c, "GET", base + "/tasks?limit=0", 400, "invalid_argument", "limit");
  expect_error(c, "GET", base + "/tasks?limit=abc", 400, "invalid_argument", "limit");
  expect_error(c, "GET", base + "/tasks?limit=10001", 400, "invalid_argument", "limit");
  expect_error(c, "GET", base + "/tasks?state=bogus", 400, "invalid_argument", "state");
  expect_error(c, "GET", base + "/tasks?stage=zz", 404, "not_found", "stage");

  // --- logs of a finished attempt, from the blob store
  auto log = call(c, "GET", base + "/tasks/a/2/logs");
  CHECK(log.status == 200);
  CHECK_THAT(log.content_type, Catch::StartsWith("text/plain"));
  CHECK(log.body == "out a 2\n");
  CHECK(log.header("X-Drover-Attempt") == "1");
  CHECK(log.header("X-Drover-Attempt-State") == "succeeded");
  CHECK(call(c, "GET", base + "/tasks/a/2/logs?stream=stderr&attempt=1").body == "err a 2\n");
  CHECK(call(c, "GET", base + "/tasks/a/2/logs?stream=stdout&attempt=0").body == "out a 2\n");
  CHECK(call(c, "GET", base + "/tasks/a/2/logs?offset=4").body == "a 2\n");
  CHECK(call(c, "GET", base + "/tasks/a/2/logs?offset=1000").body.empty());
  // follow=1 is the CLI's business (it polls with offset): the master answers the same.
  CHECK(call(c, "GET", base + "/tasks/a/2/logs?follow=1").body == "out a 2\n");
  expect_error(c, "GET", base + "/tasks/a/2/logs?follow=yes", 400, "invalid_argument", "follow");
  auto failed_log = call(c, "GET", base + "/tasks/b/3/logs");
  CHECK(failed_log.body == "out b 3\n");
  CHECK(failed_log.header("X-Drover-Attempt-State") == "failed");
  expect_error(c, "GET", base + "/tasks/a/2/logs?attempt=2", 404, "not_found", "attempt");
  expect_error(c, "GET", base + "/tasks/a/2/logs?attempt=abc", 400, "invalid_argument", "attempt");
  expect_error(c, "GET", base + "/tasks/a/2/logs?attempt=-1", 400, "invalid_argument", "attempt");
  expect_error(c, "GET", base + "/tasks/a/2/logs?offset=abc", 400, "invalid_argument", "offset");
  expect_error(c, "GET", base + "/tasks/a/2/logs?offset=-5", 400, "invalid_argument", "offset");
  expect_error(c, "GET", base + "/tasks/a/2/logs?stream=bogus", 400, "invalid_argument", "stream");
  expect_error(c, "GET", base + "/tasks/zz/0/logs", 404, "not_found", "stage");
  expect_error(c, "GET", base + "/tasks/a/5/logs", 404, "not_found", "index");
  expect_error(c, "GET", base + "/tasks/a/-1/logs", 404, "not_found", "index");
  expect_error(c, "GET", base + "/tasks/a/x/logs", 404, "not_found", "index");
  expect_error(c, "POST", base + "/tasks/a/2/logs", 405, "invalid_argument", "");

  // --- the committed output, a gzip'd tar
  auto out = call(c, "GET", base + "/tasks/a/3/output");
  CHECK(out.status == 200);
  CHECK(out.content_type == "application/gzip");
  REQUIRE(out.body.size() > 2);
  CHECK(static_cast<unsigned char>(out.body[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(out.body[1]) == 0x8b);
  auto v = read_archive_member(out.body, "v");
  REQUIRE(v.ok());
  CHECK(*v == "3\n");
  // A failed task has no committed output.
  expect_error(c, "GET", base + "/tasks/b/3/output", 404, "not_found", "");
  expect_error(c, "GET", base + "/tasks/zz/0/output", 404, "not_found", "stage");
  expect_error(c, "GET", base + "/tasks/b/9/output", 404, "not_found", "index");

  // --- a running task: live logs from its worker, no output yet; a task that
  // waits on it has no attempt at all
  const std::string hold = submit(c, write_bundle(tmp.path / "hold", R"(name: hold
stages:
  - name: first
    command: ["sh", "-c", "echo holding; exec sleep 30"]
  - name: then
    after: [first]
    command: ["true"]
)"));
  const std::string hbase = "/api/v1/jobs/" + hold;
  wait_running(c, hold, "first");
  http::Response live;
  CHECK(wait_until(
      [&] {
        live = call(c, "GET", hbase + "/tasks/first/0/logs");
        return live.body == "holding\n";
      },
      10s));
  CHECK(live.header("X-Drover-Attempt-State") == "running");
  CHECK(call(c, "GET", hbase + "/tasks/first/0/logs?offset=3").body == "ding\n");
  expect_error(c, "GET", hbase + "/tasks/first/0/output", 404, "not_found", "");
  expect_error(c, "GET", hbase + "/tasks/then/0/logs", 404, "not_found", "attempt");
  expect_error(c, "GET", hbase + "/tasks/then/0/output", 404, "not_found", "");
  auto running = walk(c, hbase + "/tasks?limit=1&state=running", "tasks");
  CHECK(running.items == std::vector<std::string>{"first/0"});
  CHECK(ok_json(c, "POST", hbase + "/cancel")["state"] == "cancelled");
  auto killed = call(c, "GET", hbase + "/tasks/first/0/logs");
  CHECK(killed.header("X-Drover-Attempt-State") == "killed");
}
