// The master's routes driven without sockets: Router::dispatch against a real
// Coordinator, SQLite store and blob store, with a manual clock and reactor.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "master/api/routes.hpp"
#include "master/store/sqlite_store.hpp"
#include "tests/component/master_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const char* kJob =
    "name: demo\nstages:\n"
    "  - name: map\n    command: [cat, \"{input}\"]\n    inputs: {files: [\"*.txt\"]}\n"
    "  - name: merge\n    after: [map]\n    command: [\"true\"]\n";

}  // namespace

TEST_CASE("submit, assign, report and commit through the routes", "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  auto job = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kJob));
  std::string id = job["id"];
  CHECK(job["state"] == "queued");
  CHECK(job["stages"][0]["task_count"] == 2);

  WorkerRegistration reg{"w1", "127.0.0.1:1", 4, 0, {}, {}};
  m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  m.reactor.run_ready();  // the scheduling pass
  auto work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=1000");
  REQUIRE(work["assignments"].size() == 2);
  CHECK(work["assignments"][0]["input_kind"] == "file");
  CHECK(work["assignments"][0]["input"] == "a.txt");

  std::string out = "output-bytes";
  std::string digest = sha256_hex(out);
  CHECK(m.call("PUT", "/internal/v1/blobs/" + digest, out).status == 201);
  CHECK(m.call("PUT", "/internal/v1/blobs/" + std::string(64, '0'), out).status == 400);
  for (auto& a : work["assignments"]) {
    std::string aid = std::to_string(a["attempt_id"].get<std::int64_t>());
    m.json("POST", "/internal/v1/attempts/" + aid + "/started", "{}");
    AttemptReport r;
    r.state = AttemptState::succeeded;
    r.exit_code = 0;
    r.output_digest = digest;
    m.json("POST", "/internal/v1/attempts/" + aid + "/finished", nlohmann::json(r).dump());
    // A second report of the same attempt is fenced.
    CHECK(m.call("POST", "/internal/v1/attempts/" + aid + "/finished", nlohmann::json(r).dump())
              .status == 409);
  }
  m.reactor.run_ready();
  work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=1000");
  REQUIRE(work["assignments"].size() == 1);
  CHECK(work["assignments"][0]["upstream"].size() == 2);

  auto tasks = m.json("GET", "/api/v1/jobs/" + id + "/tasks?stage=map");
  CHECK(tasks["tasks"].size() == 2);
  CHECK(tasks["tasks"][0]["state"] == "succeeded");
  auto output = m.call("GET", "/api/v1/jobs/" + id + "/tasks/map/0/output");
  CHECK(output.body == out);
  CHECK(m.call("GET", "/api/v1/jobs/" + id + "/tasks/merge/0/output").status == 404);
  CHECK(m.call("GET", "/api/v1/jobs/" + id + "/tasks/map/7/output").status == 404);
  CHECK(m.json("GET", "/api/v1/cluster")["workers"]["alive"] == 1);
}

TEST_CASE("a kill queued while the worker has no poll waiting goes out with its next heartbeat, once",
          "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  for (const char* w : {"w1", "w2"}) {
    WorkerRegistration reg{w, "127.0.0.1:1", 1, 0, {}, {}};
    m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  }
  auto beat = [&m](const std::string& worker) {
    auto r = m.json("POST", "/internal/v1/workers/" + worker + "/heartbeat", R"({"running":[]})");
    return r["kill"].get<std::vector<std::int64_t>>();
  };
  CHECK(beat("w1").empty());  // nothing queued anywhere
  auto job = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kJob));
  m.reactor.run_ready();  // the scheduling pass
  // The workers take what they were given and are not polling when the job is cancelled.
  std::map<std::string, std::vector<std::int64_t>> given;
  for (const char* w : {"w1", "w2"}) {
    auto work = m.json("GET", std::string("/internal/v1/workers/") + w + "/work?wait_ms=0");
    for (auto& a : work["assignments"]) given[w].push_back(a["attempt_id"]);
  }
  REQUIRE(given["w1"].size() + given["w2"].size() == 2);
  m.json("POST", "/api/v1/jobs/" + job["id"].get<std::string>() + "/cancel");
  m.reactor.run_ready();
  CHECK(beat("w1") == given["w1"]);
  CHECK(beat("w1").empty());  // taken once
  CHECK(m.json("GET", "/internal/v1/workers/w1/work?wait_ms=0")["kill"].empty());
  // w2's kills still wait for it, and its poll takes them.
  auto polled = m.json("GET", "/internal/v1/workers/w2/work?wait_ms=0");
  CHECK(polled["kill"].get<std::vector<std::int64_t>>() == given["w2"]);
  CHECK(beat("w2").empty());
}

TEST_CASE("an invalid bundle is refused with the field and nothing is stored", "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  std::string bad = bundle(tmp.path / "b",
                           "name: demo\nstages:\n  - name: a\n    command: [x]\n"
                           "  - name: b\n    after: [cont]\n    command: [x]\n");
  auto r = m.call("POST", "/api/v1/jobs", bad);
  CHECK(r.status == 400);
  auto err = nlohmann::json::parse(r.body)["error"];
  CHECK(err["code"] == "invalid_spec");
  CHECK(err["field"] == "stages[1].after");
  CHECK(m.call("POST", "/api/v1/jobs", "not a tarball").status == 400);
  std::string no_match = bundle(tmp.path / "c",
                                "name: demo\nstages:\n  - name: a\n    command: [x]\n"
                                "    inputs: {files: [\"*.csv\"]}\n");
  auto r2 = m.call("POST", "/api/v1/jobs", no_match);
  CHECK(r2.status == 400);
  CHECK(nlohmann::json::parse(r2.body)["error"]["field"] == "stages[0].inputs.files[0]");
  CHECK(m.json("GET", "/api/v1/jobs")["jobs"].empty());
  CHECK(m.call("GET", "/api/v1/jobs/j-000001").status == 404);
}

TEST_CASE("jobs and their state survive a restart of the coordinator", "[component][master]") {
  TempDir tmp;
  std::string id;
  {
    Master m(tmp.path / "master");
    id = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kJob))["id"];
    m.json("POST", "/api/v1/jobs/" + id + "/cancel");
  }
  Master again(tmp.path / "master");
  auto job = again.json("GET", "/api/v1/jobs/" + id);
  CHECK(job["state"] == "cancelled");
  CHECK(job["task_count"] == 3);
  // Ids keep increasing after a restart.
  auto next = again.json("POST", "/api/v1/jobs", bundle(tmp.path / "c", kJob));
  CHECK(next["id"] != id);
}

TEST_CASE("the jobs list pages with limit and after", "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  std::string b = bundle(tmp.path / "b", kJob);
  for (int i = 0; i < 3; ++i) m.json("POST", "/api/v1/jobs", b);
  auto page1 = m.json("GET", "/api/v1/jobs?limit=2");
  REQUIRE(page1["jobs"].size() == 2);
  CHECK(page1["jobs"][0]["id"] == "j-000003");
  auto page2 = m.json("GET", "/api/v1/jobs?limit=2&after=" + page1["next"].get<std::string>());
  REQUIRE(page2["jobs"].size() == 1);
  CHECK(page2["next"] == "");
  CHECK(m.call("GET", "/api/v1/jobs?limit=0").status == 400);
}

TEST_CASE("the OpenAPI description names exactly the public routes", "[component][master][openapi]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  auto served = m.call("GET", "/api/v1/openapi.json");
  REQUIRE(served.ok());
  auto spec = nlohmann::json::parse(served.body);
  CHECK(spec["openapi"] == "3.0.3");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, ops] : spec["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      documented.emplace(upper, path);
      CHECK(op.contains("responses"));
      // Every {param} of the path is described.
      for (std::size_t at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1)) {
        std::string name = path.substr(at + 1, path.find('}', at) - at - 1);
        bool found = false;
        for (const auto& p : op.value("parameters", nlohmann::json::array())) {
          found = found || (p["in"] == "path" && p["name"] == name);
        }
        INFO(method << " " << path << " {" << name << "}");
        CHECK(found);
      }
    }
  }
  std::set<std::pair<std::string, std::string>> routes;
  for (const auto& [method, pattern] : m.router.routes()) {
    if (pattern.rfind("/internal/", 0) == 0) continue;  // worker protocol: in the README
    routes.emplace(method, pattern);
  }
  CHECK(documented == routes);
  // References resolve.
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (auto r = j.find("$ref"); r != j.end()) {
        std::string target = r->get<std::string>();
        REQUIRE(target.rfind("#/components/", 0) == 0);
        auto ptr = nlohmann::json::json_pointer(target.substr(1));
        INFO(target);
        CHECK(spec.contains(ptr));
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(spec);
}

TEST_CASE("reports of several attempts go in one request, each with its own result",
          "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  auto job = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kJob));
  std::string id = job["id"];
  WorkerRegistration reg{"w1", "127.0.0.1:1", 4, 0, {}, {}};
  m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  m.reactor.run_ready();
  auto work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=0");  // no long poll
  REQUIRE(work["assignments"].size() == 2);
  const std::int64_t a0 = work["assignments"][0]["attempt_id"];
  const std::int64_t a1 = work["assignments"][1]["attempt_id"];
  std::string out = "output-bytes";
  REQUIRE(m.call("PUT", "/internal/v1/blobs/" + sha256_hex(out), out).status == 201);

  // Started and finished of both in one batch, plus an unknown attempt and an
  // output that was never uploaded: those two fail alone.
  ReportBatch batch;
  batch.started = {{a0, 0}, {a1, 0}, {999999, 0}};
  AttemptReport ok;
  ok.state = AttemptState::succeeded;
  ok.exit_code = 0;
  ok.output_digest = sha256_hex(out);
  AttemptReport missing = ok;
  missing.output_digest = std::string(64, 'a');
  batch.finished = {{a0, ok}, {a1, missing}};
  auto reply = m.json("POST", "/internal/v1/attempts/reports", nlohmann::json(batch).dump())
                   .get<ReportBatchReply>();
  REQUIRE(reply.started.size() == 3);
  REQUIRE(reply.finished.size() == 2);
  CHECK(reply.started[0].attempt_id == a0);
  CHECK(reply.started[0].status == 200);
  CHECK(reply.started[1].status == 200);
  // As its own request would have been answered.
  CHECK(reply.started[2].status ==
        m.call("POST", "/internal/v1/attempts/999999/started", "{}").status);
  CHECK(reply.started[2].code == "conflict");
  CHECK(reply.finished[0].status == 200);
  CHECK(reply.finished[1].attempt_id == a1);
  CHECK(reply.finished[1].status == 400);
  CHECK_THAT(reply.finished[1].message, Catch::Contains("was not uploaded"));
  // The same report again is fenced, as through /finished.
  ReportBatch again;
  again.finished = {{a0, ok}};
  reply = m.json("POST", "/internal/v1/attempts/reports", nlohmann::json(again).dump())
              .get<ReportBatchReply>();
  REQUIRE(reply.finished.size() == 1);
  CHECK(reply.finished[0].status == 409);

  auto tasks = m.json("GET", "/api/v1/jobs/" + id + "/tasks?stage=map");
  CHECK(tasks["tasks"][0]["state"] == "succeeded");
  CHECK(tasks["tasks"][1]["state"] == "running");
  // Bad bodies are refused as a whole.
  CHECK(m.call("POST", "/internal/v1/attempts/reports", "{\"started\": 5}").status == 400);
  ReportBatch huge;
  huge.started.resize(10001);
  auto refused = m.call("POST", "/internal/v1/attempts/reports", nlohmann::json(huge).dump());
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Catch::Contains("at most 10000"));
}

TEST_CASE("the workers list pages with limit and after", "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  for (const char* id : {"w3", "w1", "w5", "w2", "w4"}) {
    WorkerRegistration reg{id, "127.0.0.1:1", 1, 0, {}, {}};
    m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  }
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    auto body = m.json("GET", "/api/v1/workers?limit=2" + (after.empty() ? "" : "&after=" + after));
    for (auto& w : body["workers"]) seen.push_back(w["id"]);
    if (!body.contains("next")) break;
    CHECK(body["workers"].size() == 2);
    after = body["next"];
  }
  CHECK(seen == std::vector<std::string>{"w1", "w2", "w3", "w4", "w5"});
  CHECK(m.json("GET", "/api/v1/workers")["workers"].size() == 5);  // default: up to 1000
  CHECK(!m.json("GET", "/api/v1/workers").contains("next"));
  CHECK(m.call("GET", "/api/v1/workers?limit=0").status == 400);
  CHECK(m.call("GET", "/api/v1/workers?limit=10001").status == 400);
}

TEST_CASE("a worker waiting for work gets a new job's task before the submitter gets its reply",
          "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  WorkerRegistration reg{"w1", "127.0.0.1:1", 1, 0, {}, {}};
  m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  m.reactor.run_ready();

  std::vector<std::string> answered;
  m.send("GET", "/internal/v1/workers/w1/work?wait_ms=1000", "", answered);
  m.send("POST", "/api/v1/jobs",
         bundle(tmp.path / "b", "name: one\nstages:\n  - name: s\n    command: [\"true\"]\n"),
         answered);
  CHECK(answered.empty());  // both wait for the commit of the job and its assignment
  m.reactor.run_ready();
  const std::vector<std::string> worker_first{"/internal/v1/workers/w1/work?wait_ms=1000",
                                               "/api/v1/jobs"};
  CHECK(answered == worker_first);
}

TEST_CASE("reports wait a little to be committed together, and not behind a client's request",
          "[component][master]") {
  TempDir tmp;
  Master m(tmp.path / "master", 2ms);
  WorkerRegistration reg{"w1", "127.0.0.1:1", 4, 0, {}, {}};
  m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kJob));
  m.reactor.run_ready();
  auto work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=0");
  REQUIRE(work["assignments"].size() == 2);
  const std::string a0 = std::to_string(work["assignments"][0]["attempt_id"].get<std::int64_t>());
  const std::string a1 = std::to_string(work["assignments"][1]["attempt_id"].get<std::int64_t>());

  std::vector<std::string> answered;
  auto send = [&](const std::string& target, std::string body) {
    m.send("POST", target, std::move(body), answered);
  };
  auto commits = [&] { return m.co->metrics().commit_seconds.count(); };

  // Two reports, each in its own request: neither is committed until the
  // patience runs out, then both are, in one commit.
  const auto before = commits();
  send("/internal/v1/attempts/" + a0 + "/started", "{}");
  send("/internal/v1/attempts/" + a1 + "/started", "{}");
  m.reactor.run_ready();
  CHECK(answered.empty());
  CHECK(commits() == before);
  m.reactor.fire_timers();
  CHECK(answered.size() == 2);
  CHECK(commits() == before + 1);

  // A client's request commits at once, and the report waiting goes with it.
  answered.clear();
  AttemptReport failed;
  failed.state = AttemptState::failed;
  failed.exit_code = 1;
  send("/internal/v1/attempts/" + a0 + "/finished", nlohmann::json(failed).dump());
  m.reactor.run_ready();
  CHECK(answered.empty());
  send("/api/v1/jobs", bundle(tmp.path / "c", kJob));
  m.reactor.run_ready();
  CHECK(answered.size() == 2);
  CHECK(commits() == before + 2);
}
