// The job event log through the routes: what a job's life writes, in order,
// paged, refused when asked wrongly, and still there after a restart.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/component/master_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;

namespace {

const char* kTwoTasks =
    "name: ev\nmax_attempts: 2\nretry_backoff: 100ms\nstages:\n"
    "  - name: s\n    command: [\"true\"]\n    inputs: {range: 2}\n";

struct Worker1 {
  explicit Worker1(Master& m) : m(m) {
    WorkerRegistration reg{"w1", "127.0.0.1:1", 4, 0, {}, {}};
    m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  }
  // Runs the scheduling pass and returns the attempt ids handed out, by task index.
  std::map<std::int64_t, std::string> poll() {
    m.reactor.run_ready();
    std::map<std::int64_t, std::string> out;
    auto work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=1000");
    for (auto& a : work["assignments"]) {
      out[a["index"].get<std::int64_t>()] = std::to_string(a["attempt_id"].get<std::int64_t>());
    }
    return out;
  }
  void start(const std::string& aid) {
    m.json("POST", "/internal/v1/attempts/" + aid + "/started", "{}");
  }
  void finish(const std::string& aid, int exit_code) {
    AttemptReport r;
    r.state = exit_code == 0 ? AttemptState::succeeded : AttemptState::failed;
    r.exit_code = exit_code;
    if (exit_code == 0) {
      std::string out = "out";
      r.output_digest = sha256_hex(out);
      m.call("PUT", "/internal/v1/blobs/" + r.output_digest, out);
    } else {
      r.reason = FailureReason::exit_code;
      r.message = "exit code " + std::to_string(exit_code);
    }
    m.json("POST", "/internal/v1/attempts/" + aid + "/finished", nlohmann::json(r).dump());
  }
  Master& m;
};

std::vector<JobEvent> all_events(Master& m, const std::string& job, int limit) {
  std::vector<JobEvent> out;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    std::string target = "/api/v1/jobs/" + job + "/events?limit=" + std::to_string(limit);
    if (!after.empty()) target += "&after=" + after;
    auto list = m.json("GET", target).get<JobEventList>();
    CHECK(static_cast<int>(list.events.size()) <= limit);
    out.insert(out.end(), list.events.begin(), list.events.end());
    if (list.next.empty()) return out;
    after = list.next;
  }
  FAIL("the event pages never ended");
  return out;
}

// "type stage/index#attempt@worker" for the events of one task, or of the job (index -1).
std::vector<std::string> story(const std::vector<JobEvent>& events, std::int64_t index) {
  std::vector<std::string> out;
  for (const JobEvent& e : events) {
    if (e.index != index) continue;
    std::string line = e.type;
    if (e.attempt > 0) line += " #" + std::to_string(e.attempt) + "@" + e.worker;
    if (!e.reason.empty()) line += " " + e.reason;
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("a job's events record its life in order and survive a restart", "[component][events]") {
  TempDir tmp;
  std::string id;
  std::vector<JobEvent> before;
  {
    Master m(tmp.path / "master");
    id = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kTwoTasks))["id"];
    Worker1 w(m);
    auto first = w.poll();
    REQUIRE(first.size() == 2);
    for (auto& [index, aid] : first) w.start(aid);
    w.finish(first[0], 0);
    w.finish(first[1], 3);
    m.clock.advance(1s);  // past retry_backoff, within the worker timeout
    m.reactor.fire_timers();  // the scheduler's recheck
    auto second = w.poll();
    REQUIRE(second.size() == 1);
    w.start(second[1]);
    w.finish(second[1], 0);
    m.reactor.run_ready();
    REQUIRE(m.json("GET", "/api/v1/jobs/" + id)["state"] == "succeeded");

    before = all_events(m, id, 1000);
    CHECK(story(before, -1) == std::vector<std::string>{"submitted", "job_succeeded"});
    CHECK(story(before, 0) ==
          std::vector<std::string>{"assigned #1@w1", "started #1@w1", "finished #1@w1",
                                   "committed #1@w1"});
    CHECK(story(before, 1) ==
          std::vector<std::string>{"assigned #1@w1", "started #1@w1", "failed #1@w1 exit_code",
                                   "assigned #2@w1", "started #2@w1", "finished #2@w1",
                                   "committed #2@w1"});
    REQUIRE(before.size() == 13);
    CHECK(before.front().type == "submitted");
    CHECK(before.front().message == "2 tasks in 1 stage");
    CHECK(before.back().type == "job_succeeded");
    for (std::size_t i = 1; i < before.size(); ++i) {
      CHECK(before[i].seq > before[i - 1].seq);
      CHECK(before[i].time >= before[i - 1].time);
    }
    for (const JobEvent& e : before) {
      if (e.type == "failed") CHECK(e.message == "exit code 3");
    }

    // Pages of 3 hold the same events; a cursor past the end gives an empty last page.
    auto paged = all_events(m, id, 3);
    REQUIRE(paged.size() == before.size());
    for (std::size_t i = 0; i < paged.size(); ++i) CHECK(paged[i].seq == before[i].seq);
    auto tail = m.json("GET", "/api/v1/jobs/" + id + "/events?after=" +
                                  std::to_string(before.back().seq));
    CHECK(tail["events"].empty());
    CHECK(tail["next"] == "");

    auto missing = m.call("GET", "/api/v1/jobs/j-999999/events");
    CHECK(missing.status == 404);
    CHECK(nlohmann::json::parse(missing.body)["error"]["field"] == "job");
    for (std::string bad : {"limit=0", "limit=10001", "limit=x", "after=-1", "after=abc"}) {
      auto r = m.call("GET", "/api/v1/jobs/" + id + "/events?" + bad);
      INFO(bad);
      CHECK(r.status == 400);
      CHECK(nlohmann::json::parse(r.body)["error"]["field"] == bad.substr(0, bad.find('=')));
    }
  }
  Master again(tmp.path / "master");
  auto after_restart = all_events(again, id, 1000);
  REQUIRE(after_restart.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    CHECK(after_restart[i].seq == before[i].seq);
    CHECK(after_restart[i].type == before[i].type);
  }
}

TEST_CASE("cancelling a job logs the killed attempts and then the cancel", "[component][events]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  std::string id = m.json("POST", "/api/v1/jobs", bundle(tmp.path / "b", kTwoTasks))["id"];
  Worker1 w(m);
  auto first = w.poll();
  REQUIRE(first.size() == 2);
  w.start(first[0]);
  m.json("POST", "/api/v1/jobs/" + id + "/cancel");
  auto events = all_events(m, id, 1000);
  CHECK(story(events, -1) == std::vector<std::string>{"submitted", "cancelled"});
  CHECK(story(events, 0) ==
        std::vector<std::string>{"assigned #1@w1", "started #1@w1", "killed #1@w1 killed"});
  CHECK(story(events, 1) == std::vector<std::string>{"assigned #1@w1", "killed #1@w1 killed"});
  REQUIRE(!events.empty());
  CHECK(events.back().type == "cancelled");
  CHECK(events.back().message == "cancelled by user");
}
