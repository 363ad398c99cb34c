// SPEC §4 guarantees under real faults: kill -9 and SIGSTOP of workers, kill -9
// of the master, failing tasks, lost and corrupt outputs. The master runs with
// --worker-timeout 2s --heartbeat-interval 200ms (tests/support).
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "common/fs/fs.hpp"
#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

TEST_CASE("kill -9 of a worker: its attempts are lost and rerun elsewhere without counting",
          "[integration][faults]") {
  TempDir tmp;
  TaskPids pids(tmp.path / "pids");
  Cluster c(tmp.path);
  c.start_worker("w1", 2);
  c.start_worker("w2", 2);
  REQUIRE(c.wait_workers_alive(2));
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: survive
max_attempts: 1
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/$DROVER_TASK_INDEX; if [ $DROVER_ATTEMPT = 1 ]; then sleep 4; fi; echo {index} > $DROVER_OUTPUT_DIR/o"]
    inputs: {range: 4}
)", "PIDS", pids.dir.string()));
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] {
    int running = 0;
    for (const auto& t : tasks_of(c, id)) running += t["state"] == "running";
    return running == 4;
  }, 20s));
  std::set<std::int64_t> on_w1;
  for (const auto& t : tasks_of(c, id)) {
    if (t["attempts"].back()["worker"] == "w1") on_w1.insert(t["index"].get<std::int64_t>());
  }
  REQUIRE(on_w1.size() == 2);
  auto killed_at = std::chrono::steady_clock::now();
  c.worker("w1")->kill9();
  // Rerun elsewhere at once: within the reconnect grace, well before the 2 s timeout + a heartbeat.
  bool rerun = wait_until([&] {
    for (const auto& t : tasks_of(c, id)) {
      if (on_w1.count(t["index"]) && t["attempts"].size() < 2) return false;
    }
    return true;
  }, 10s, 10ms);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  WARN("worker death to rerun: " << took.count() << " ms");
  REQUIRE(rerun);
  REQUIRE(wait_until([&] { return job_state(c, id) != "running"; }, 30s));
  CHECK(job_state(c, id) == "succeeded");
  for (const auto& t : tasks_of(c, id)) {
    if (!on_w1.count(t["index"])) {
      CHECK(t["attempts"].size() == 1);
      continue;
    }
    CHECK(t["attempts"][0]["state"] == "lost");
    CHECK(t["attempts"][0]["reason"] == "lost_worker");
    CHECK(t["attempts"][1]["worker"] == "w2");
  }
  CHECK(c.get("/api/v1/workers")["workers"][0]["state"] == "dead");
}

TEST_CASE("SIGSTOP past worker_timeout: rerun elsewhere, stale attempt killed and fenced, rejoin",
          "[integration][faults]") {
  TempDir tmp;
  TaskPids pids(tmp.path / "pids");
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: fence
max_attempts: 1
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/a$DROVER_ATTEMPT; if [ $DROVER_ATTEMPT = 1 ]; then sleep 8; fi; echo attempt-$DROVER_ATTEMPT > $DROVER_OUTPUT_DIR/o"]
)", "PIDS", pids.dir.string()));
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] { return !pids.read("a1").empty(); }, 20s));
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  pid_t w1 = c.worker("w1")->pid();
  REQUIRE(::kill(w1, SIGSTOP) == 0);
  bool rerun = wait_until([&] { return job_state(c, id) == "succeeded"; }, 20s);
  ::kill(w1, SIGCONT);
  REQUIRE(rerun);
  auto task = tasks_of(c, id)[0];
  CHECK(task["attempts"][0]["state"] == "lost");
  CHECK(task["attempts"][1]["worker"] == "w2");
  // The stale attempt is killed once w1 is back, and its output never lands.
  TaskPid stale = pids.read("a1").at(0);
  CHECK(wait_until([&] { return !alive(stale); }, 10s));
  REQUIRE(c.wait_workers_alive(2));
  auto out = c.cli({"output", id, "--to", (tmp.path / "out").string()});
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "s" / "0" / "o") == "attempt-2\n");
  CHECK(tasks_of(c, id)[0]["attempts"].size() == 2);
  // w1 gets work again.
  auto again = write_bundle(tmp.path / "b2", "name: again\nstages:\n  - name: s\n    command: [\"true\"]\n"
                                             "    inputs: {range: 6}\n");
  std::string id2 = submit(c, again);
  REQUIRE(c.cli({"wait", id2}, 60s).exit_code == 0);
}

TEST_CASE("retries back off exponentially and the last attempt's success wins",
          "[integration][faults]") {
  TempDir tmp;
  Cluster c(tmp.path, {"--exclude-for", "500ms"});
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "b", R"(name: retry
max_attempts: 4
retry_backoff: 300ms
stages:
  - name: s
    command: ["sh", "-c", "[ $DROVER_ATTEMPT -ge 4 ] || exit 1; echo ok > $DROVER_OUTPUT_DIR/o"]
)");
  std::string id = submit(c, bundle);
  REQUIRE(c.cli({"wait", id}, 60s).exit_code == 0);
  auto attempts = tasks_of(c, id)[0]["attempts"];
  REQUIRE(attempts.size() == 4);
  std::int64_t expected = 300;
  for (int i = 0; i < 3; ++i) {
    CHECK(attempts[i]["state"] == "failed");
    CHECK(attempts[i]["exit_code"] == 1);
    CHECK(attempts[i]["reason"] == "exit_code");
    std::int64_t gap = attempts[i + 1]["started_at"].get<std::int64_t>() -
                       attempts[i]["finished_at"].get<std::int64_t>();
    INFO("gap before attempt " << i + 2 << ": " << gap << " ms");
    CHECK(gap >= expected);
    expected *= 2;
  }
  CHECK(attempts[3]["state"] == "succeeded");
}

TEST_CASE("no_retry_exit_codes fail at once and a retry prefers another worker",
          "[integration][faults]") {
  TempDir tmp;
  Cluster c(tmp.path, {"--exclude-for", "3s"});
  c.start_worker("w1", 1);
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));

  auto poison = write_bundle(tmp.path / "p", R"(name: poison
max_attempts: 5
no_retry_exit_codes: [2]
stages:
  - name: s
    command: ["sh", "-c", "exit 2"]
)");
  std::string p = submit(c, poison);
  CHECK(c.cli({"wait", p}, 30s).exit_code == 1);
  CHECK(tasks_of(c, p)[0]["attempts"].size() == 1);
  CHECK(c.get("/api/v1/jobs/" + p)["message"].get<std::string>().find("no_retry_exit_codes") !=
        std::string::npos);

  auto flaky = write_bundle(tmp.path / "f", R"(name: flaky
retry_backoff: 10ms
stages:
  - name: s
    command: ["sh", "-c", "[ $DROVER_ATTEMPT -ge 2 ] || exit 1; true"]
)");
  std::string f = submit(c, flaky);
  REQUIRE(c.cli({"wait", f}, 30s).exit_code == 0);
  auto attempts = tasks_of(c, f)[0]["attempts"];
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0]["worker"] != attempts[1]["worker"]);

}

TEST_CASE("a worker with 3 failed attempts in a row is excluded for exclude_for, then used again",
          "[integration][faults]") {
  TempDir tmp;
  Cluster c(tmp.path, {"--exclude-for", "3s"});
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto bad = write_bundle(tmp.path / "bad", R"(name: bad
max_attempts: 3
retry_backoff: 10ms
stages:
  - name: s
    command: ["sh", "-c", "exit 1"]
)");
  std::string b = submit(c, bad);
  CHECK(c.cli({"wait", b}, 30s).exit_code == 1);
  auto workers = c.cli({"workers"});
  INFO(workers.out);
  CHECK(workers.out.find("excluded") != std::string::npos);
  auto state = [&] { return c.get("/api/v1/workers")["workers"][0]["state"].get<std::string>(); };
  CHECK(wait_until([&] { return state() == "alive"; }, 10s));
  auto good = write_bundle(tmp.path / "good", "name: good\nstages:\n  - name: s\n    command: [\"true\"]\n");
  CHECK(c.cli({"wait", submit(c, good)}, 30s).exit_code == 0);
}

TEST_CASE("kill -9 of the master: acknowledged jobs survive, running attempts are adopted",
          "[integration][faults]") {
  TempDir tmp;
  TaskPids pids(tmp.path / "pids");
  Cluster c(tmp.path);
  c.start_worker("w1", 2);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: adopt
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/$DROVER_TASK_INDEX; sleep 3; echo {index} > $DROVER_OUTPUT_DIR/o"]
    inputs: {range: 2}
)", "PIDS", pids.dir.string()));
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] { return !pids.read("0").empty() && !pids.read("1").empty(); }, 20s));
  c.stop_master(SIGKILL);
  c.start_master();
  REQUIRE(wait_until([&] { return job_state(c, id) == "succeeded"; }, 30s));
  for (const auto& t : tasks_of(c, id)) {
    CHECK(t["attempts"].size() == 1);  // adopted, not started again
    CHECK(pids.read(std::to_string(t["index"].get<int>())).size() == 1);
  }
  // Right after a submit returned.
  auto quick = write_bundle(tmp.path / "q", "name: quick\nstages:\n  - name: s\n    command: [\"true\"]\n");
  std::string q = submit(c, quick);
  c.stop_master(SIGKILL);
  c.start_master();
  CHECK(c.cli({"wait", q}, 60s).exit_code == 0);
}

TEST_CASE("lineage: a missing or corrupt committed output reruns only its producing task",
          "[integration][faults]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 4);
  REQUIRE(c.wait_workers_alive(1));
  fs::path flag = tmp.path / "go";
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: lineage
max_attempts: 1
stages:
  - name: a
    command: ["sh", "-c", "echo {index} > $DROVER_OUTPUT_DIR/o"]
    inputs: {range: 3}
  - name: gate
    command: ["sh", "-c", "i=0; while [ ! -e FLAG ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done"]
  - name: b
    after: [a, gate]
    command: ["sh", "-c", "cat $DROVER_INPUT_DIR/a/*/o | sort > $DROVER_OUTPUT_DIR/all"]
)", "FLAG", flag.string()));
  std::string id = submit(c, bundle);
  auto a_done = [&] {
    int n = 0;
    for (const auto& t : tasks_of(c, id)) n += t["stage"] == "a" && t["state"] == "succeeded";
    return n == 3;
  };
  REQUIRE(wait_until(a_done, 20s));
  auto tasks = tasks_of(c, id);
  auto blob = [&](int index) {
    std::string d = tasks[index]["output_digest"];
    return tmp.path / "master" / "blobs" / d.substr(0, 2) / d;
  };
  fs::remove(blob(1));                   // lost
  std::ofstream(blob(2)) << "garbage";   // corrupt
  std::ofstream(flag) << "";
  REQUIRE(wait_until([&] { return job_state(c, id) != "running"; }, 60s));
  CHECK(job_state(c, id) == "succeeded");
  tasks = tasks_of(c, id);
  CHECK(tasks[0]["attempts"].size() == 1);
  CHECK(tasks[1]["attempts"].size() == 2);
  CHECK(tasks[2]["attempts"].size() == 2);
  auto out = c.cli({"output", id, "--to", (tmp.path / "out").string()});
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "b" / "0" / "all") == "0\n1\n2\n");
}

TEST_CASE("checkpoints are saved while running and restored into the next attempt elsewhere",
          "[integration][faults]") {
  TempDir tmp;
  TaskPids pids(tmp.path / "pids");
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: resume
max_attempts: 1
checkpoint_interval: 200ms
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/p; n=0; [ -f $DROVER_CHECKPOINT_DIR/n ] && n=$(cat $DROVER_CHECKPOINT_DIR/n); echo $n > $DROVER_OUTPUT_DIR/start; [ $DROVER_ATTEMPT = 1 ] || exit 0; i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo $i > $DROVER_CHECKPOINT_DIR/t; mv $DROVER_CHECKPOINT_DIR/t $DROVER_CHECKPOINT_DIR/n; sleep 0.05; done"]
)", "PIDS", pids.dir.string()));
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] { return tasks_of(c, id)[0]["checkpoint_digest"] != ""; }, 20s));
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  c.worker("w1")->kill9();
  REQUIRE(wait_until([&] { return job_state(c, id) != "running"; }, 30s));
  CHECK(job_state(c, id) == "succeeded");
  auto task = tasks_of(c, id)[0];
  CHECK(task["attempts"][0]["state"] == "lost");
  CHECK(task["attempts"][1]["worker"] == "w2");
  REQUIRE(c.cli({"output", id, "--to", (tmp.path / "out").string()}).exit_code == 0);
  int start = std::stoi(read_text(tmp.path / "out" / "s" / "0" / "start"));
  CHECK(start > 0);    // resumed from a saved checkpoint, not from scratch
  CHECK(start < 200);  // and the first attempt was cut short
}

TEST_CASE("drover drain: running attempts finish, no new work goes to the worker",
          "[integration][faults]") {
  TempDir tmp;
  Cluster c(tmp.path);
  // Far above the task's 1 s: the attempt must finish, not be handed back
  // (the tests' default drain_timeout is 1s).
  c.start_worker("w1", 1, {"--drain-timeout", "60s"});
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  auto bundle = write_bundle(tmp.path / "b", R"(name: drainme
stages:
  - name: s
    command: ["sh", "-c", "sleep 1"]
    inputs: {range: 4}
)");
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] {
    int running = 0;
    for (const auto& t : tasks_of(c, id)) running += t["state"] == "running";
    return running == 2;
  }, 20s));
  auto drain = c.cli({"drain", "w1"});
  INFO(drain.err);
  REQUIRE(drain.exit_code == 0);
  CHECK(c.cli({"workers"}).out.find("draining") != std::string::npos);
  REQUIRE(c.cli({"wait", id}, 60s).exit_code == 0);
  int on_w1 = 0;
  for (const auto& t : tasks_of(c, id)) {
    for (const auto& a : t["attempts"]) {
      if (a["worker"] != "w1") continue;
      ++on_w1;
      CHECK(a["state"] == "succeeded");  // finished normally, not killed
    }
  }
  CHECK(on_w1 == 1);
  CHECK(c.get("/api/v1/workers")["workers"][0]["state"] == "draining");
}

TEST_CASE("SIGTERM to a worker drains it: past drain_timeout its attempt is handed back",
          "[integration][faults]") {
  TempDir tmp;
  TaskPids pids(tmp.path / "pids");
  Cluster c(tmp.path);
  c.start_worker("w1", 1, {"--drain-timeout", "500ms"});
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: handback
max_attempts: 1
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/p; [ $DROVER_ATTEMPT = 1 ] && exec sleep 30; echo done > $DROVER_OUTPUT_DIR/o"]
)", "PIDS", pids.dir.string()));
  std::string id = submit(c, bundle);
  REQUIRE(wait_until([&] { return tasks_of(c, id)[0]["state"] == "running"; }, 20s));
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  ExitStatus st = c.worker("w1")->stop(SIGTERM, 20s);
  CHECK(st.exit_code == 0);
  REQUIRE(wait_until([&] { return job_state(c, id) != "running"; }, 30s));
  CHECK(job_state(c, id) == "succeeded");  // max_attempts 1: the hand-back did not count
  auto attempts = tasks_of(c, id)[0]["attempts"];
  CHECK(attempts[0]["state"] == "killed");
  CHECK(attempts[0]["reason"] == "drained");
  CHECK(attempts[1]["worker"] == "w2");
  CHECK(!alive(pids.read("p").at(0)));
}
