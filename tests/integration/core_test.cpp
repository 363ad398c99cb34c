// End to end with the real binaries on 127.0.0.1: master, workers and CLI.
#include <signal.h>

#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

const char* kThreeStages = R"(name: three
stages:
  - name: gen
    command: ["sh", "-c", "echo task $DROVER_TASK_INDEX of $DROVER_TASK_COUNT; echo $DROVER_TASK_INDEX > $DROVER_OUTPUT_DIR/n"]
    inputs: {range: 200}
  - name: sum
    after: [gen]
    command: ["sh", "-c", "cat $DROVER_INPUT_DIR/gen/*/n | awk '{s+=$1} END {print s}' > $DROVER_OUTPUT_DIR/total"]
  - name: check
    after: [sum]
    command: ["sh", "-c", "echo {input}:$(cat $DROVER_INPUT_DIR/sum/0/total) > $DROVER_OUTPUT_DIR/result"]
    inputs: {items: ["x", "y", "z"]}
)";

}  // namespace

TEST_CASE("a 3-stage job of 204 tasks across 3 workers gives exactly the expected outputs",
          "[integration]") {
  TempDir tmp;
  Cluster c(tmp.path);
  for (const char* id : {"w1", "w2", "w3"}) c.start_worker(id, 2);
  REQUIRE(c.wait_workers_alive(3));

  auto bundle = write_bundle(tmp.path / "bundle", kThreeStages);
  auto sub = c.cli({"submit", bundle.string()});
  INFO(sub.err);
  REQUIRE(sub.exit_code == 0);
  std::string id = first_line(sub.out);
  auto wait = c.cli({"wait", id}, 180s);
  INFO(wait.err);
  REQUIRE(wait.exit_code == 0);

  auto job = c.get("/api/v1/jobs/" + id);
  CHECK(job["state"] == "succeeded");
  CHECK(job["task_count"] == 204);

  auto out = c.cli({"output", id, "--to", (tmp.path / "out").string()});
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  for (const char* item : {"x", "y", "z"}) {
    int index = item[0] - 'x';
    CHECK(read_text(tmp.path / "out" / "check" / std::to_string(index) / "result") ==
          std::string(item) + ":19900\n");
  }
  auto gen = c.cli({"output", id, "--stage", "gen", "--to", (tmp.path / "gen").string()});
  REQUIRE(gen.exit_code == 0);
  for (int i = 0; i < 200; ++i) {
    REQUIRE(read_text(tmp.path / "gen" / "gen" / std::to_string(i) / "n") == std::to_string(i) + "\n");
  }
  // Work was spread: every worker ran something.
  std::set<std::string> workers;
  auto tasks = c.get("/api/v1/jobs/" + id + "/tasks?stage=gen");
  for (const auto& t : tasks["tasks"]) workers.insert(t["attempts"].back()["worker"]);
  CHECK(workers.size() == 3);

  // Logs of a finished attempt.
  auto logs = c.cli({"logs", id, "gen", "7"});
  CHECK(logs.exit_code == 0);
  CHECK(logs.out == "task 7 of 200\n");
}

TEST_CASE("logs of a running attempt are readable, and cancel stops it within 2 s",
          "[integration]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 2);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "bundle", R"(name: sleeper
stages:
  - name: nap
    command: ["sh", "-c", "echo pid=$$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat); echo to-stderr >&2; exec sleep 120"]
    inputs: {range: 2}
)");
  auto sub = c.cli({"submit", bundle.string()});
  REQUIRE(sub.exit_code == 0);
  std::string id = first_line(sub.out);

  std::vector<TaskPid> pids;
  for (int i = 0; i < 2; ++i) {
    std::string out;
    bool seen = wait_until([&] {
      out = c.cli({"logs", id, "nap", std::to_string(i)}, 10s).out;
      return out.find("pid=") != std::string::npos;
    }, 20s, 100ms);
    INFO(out);
    REQUIRE(seen);
    std::istringstream words(out.substr(out.find("pid=") + 4));
    TaskPid t;
    REQUIRE(words >> t.pid >> t.ns >> t.start);
    pids.push_back(t);
    CHECK(c.cli({"logs", id, "nap", std::to_string(i), "--stderr"}).out == "to-stderr\n");
  }
  for (const TaskPid& p : pids) REQUIRE(alive(p));

  auto cancel = c.cli({"cancel", id});
  REQUIRE(cancel.exit_code == 0);
  auto t0 = std::chrono::steady_clock::now();
  bool gone = wait_until([&] {
    for (const TaskPid& p : pids) {
      if (alive(p)) return false;
    }
    return true;
  }, 2s, 10ms);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  INFO("took " << took.count() << " ms");
  CHECK(gone);
  CHECK(c.get("/api/v1/jobs/" + id)["state"] == "cancelled");
  CHECK(c.cli({"wait", id}).exit_code == 1);
}

TEST_CASE("an invalid bundle exits 2, names the field and stores nothing", "[integration]") {
  TempDir tmp;
  Cluster c(tmp.path);
  auto bad = write_bundle(tmp.path / "bad", R"(name: bad
stages:
  - name: count
    command: ["true"]
  - name: merge
    after: [cont]
    command: ["true"]
)");
  auto r = c.cli({"submit", bad.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("stages[1].after") != std::string::npos);
  CHECK(r.err.find("cont") != std::string::npos);
  CHECK(r.out.empty());
  CHECK(c.get("/api/v1/jobs")["jobs"].empty());
  // The master refuses it on its own too (a client that skips validation).
  CHECK(c.cli({"submit", (tmp.path / "missing").string()}).exit_code == 2);
  CHECK(c.get("/api/v1/jobs")["jobs"].empty());
}

TEST_CASE("a master stopped with SIGTERM and started again keeps jobs, states and outputs",
          "[integration]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 2);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "bundle", R"(name: keep
stages:
  - name: s
    command: ["sh", "-c", "echo out-{index} > $DROVER_OUTPUT_DIR/o"]
    inputs: {range: 20}
)");
  std::string done = first_line(c.cli({"submit", bundle.string()}).out);
  REQUIRE(c.cli({"wait", done}).exit_code == 0);
  // Tasks that cannot end by themselves first: the cancel cannot come too late.
  auto slow = write_bundle(tmp.path / "slow", R"(name: slow
stages:
  - name: s
    command: ["sleep", "600"]
    inputs: {range: 4}
)");
  std::string cancelled = first_line(c.cli({"submit", slow.string()}).out);
  REQUIRE(c.cli({"cancel", cancelled}).exit_code == 0);
  REQUIRE(c.get("/api/v1/jobs/" + cancelled)["state"] == "cancelled");
  auto before = c.get("/api/v1/jobs/" + done);

  const ExitStatus stopped = c.stop_master(SIGTERM);
  INFO(c.master()->log());
  CHECK(stopped.exit_code == 0);  // SIGTERM: a clean shutdown, exit 0 (SPEC §1)
  c.start_master();
  auto after = c.get("/api/v1/jobs/" + done);
  CHECK(after["state"] == "succeeded");
  CHECK(after["counts"] == before["counts"]);
  CHECK(after["stages"] == before["stages"]);
  CHECK(c.get("/api/v1/jobs/" + cancelled)["state"] == "cancelled");
  auto out = c.cli({"output", done, "--to", (tmp.path / "out").string()});
  REQUIRE(out.exit_code == 0);
  for (int i = 0; i < 20; ++i) {
    CHECK(read_text(tmp.path / "out" / "s" / std::to_string(i) / "o") ==
          "out-" + std::to_string(i) + "\n");
  }
  // The worker finds the restarted master and runs new work.
  REQUIRE(c.wait_workers_alive(1));
  std::string again = first_line(c.cli({"submit", bundle.string()}).out);
  CHECK(c.cli({"wait", again}, 60s).exit_code == 0);
}

TEST_CASE("a failing task fails the job with its reason and exit codes follow SPEC", "[integration]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto bundle = write_bundle(tmp.path / "bundle", R"(name: failing
max_attempts: 2
retry_backoff: 100ms
stages:
  - name: s
    command: ["sh", "-c", "exit 3"]
)");
  auto r = c.cli({"submit", bundle.string(), "--wait"}, 60s);
  CHECK(r.exit_code == 1);
  std::string id = first_line(r.out);
  auto job = c.get("/api/v1/jobs/" + id);
  CHECK(job["state"] == "failed");
  auto tasks = c.get("/api/v1/jobs/" + id + "/tasks");
  auto attempts = tasks["tasks"][0]["attempts"];
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0]["exit_code"] == 3);
  CHECK(attempts[0]["reason"] == "exit_code");
  auto status = c.cli({"status", id});
  CHECK(status.out.find("exit code 3") != std::string::npos);
  // Unreachable master: exit 3.
  auto down = run_command({binary("drover").string(), "--master", "http://127.0.0.1:1", "status"},
                          30s, tmp.path);
  CHECK(down.exit_code == 3);
}

TEST_CASE("drover local runs the wordcount example and matches sort | uniq -c", "[integration]") {
  TempDir tmp;
  fs::path example = tmp.path / "wordcount";
  fs::copy(source_dir() / "examples" / "wordcount", example, fs::copy_options::recursive);
  fs::remove_all(example / "data");
  auto gen = run_command({"sh", (example / "generate.sh").string(), "4", "1", "7"}, 60s, tmp.path);
  REQUIRE(gen.exit_code == 0);
  auto local = run_command({binary("drover").string(), "local", example.string(), "--workers", "2",
                            "--to", (tmp.path / "out").string()},
                           180s, tmp.path);
  INFO(local.err);
  REQUIRE(local.exit_code == 0);
  auto expected = run_command(
      {"sh", "-c",
       "cat " + (example / "data").string() +
           "/*.txt | tr -cs 'A-Za-z' '\\n' | tr 'A-Z' 'a-z' | grep -v '^$' | LC_ALL=C sort | "
           "uniq -c | awk '{print $1, $2}' | LC_ALL=C sort"},
      60s, tmp.path);
  REQUIRE(expected.exit_code == 0);
  REQUIRE_FALSE(expected.out.empty());
  // The 4 reduce partitions together hold every word once.
  auto got = run_command({"sh", "-c", "cat \"$1\"/reduce/*/counts | LC_ALL=C sort", "sh",
                          (tmp.path / "out").string()},
                         60s, tmp.path);
  REQUIRE(got.exit_code == 0);
  CHECK(got.out == expected.out);
}
