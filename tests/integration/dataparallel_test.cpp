// Data-parallel job controls with the real binaries: cache, rerun --failed-only,
// partial (max_failed_tasks), max_running, speculation, shared output store.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// Lines in a file the tasks append to (one line per run).
std::size_t lines_in(const fs::path& p) {
  std::string s = read_text(p);
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::set<std::string> lines_set(const std::string& s) {
  auto lines = lines_of(s);
  return std::set<std::string>(lines.begin(), lines.end());
}

}  // namespace

TEST_CASE("cache reuses committed outputs across jobs: reused tasks do not run again", "[integration][dataparallel]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  const fs::path runs = tmp.path / "runs";
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: cached
env: {RUNS: "@RUNS@"}
stages:
  - name: square
    cache: true
    command: ["sh", "-c", "echo square {index} >> $RUNS && echo $(({index} * {index})) > $DROVER_OUTPUT_DIR/sq"]
    inputs: {range: 5}
  - name: sum
    after: [square]
    cache: true
    command: ["sh", "-c", "echo sum >> $RUNS && cat $DROVER_INPUT_DIR/square/*/sq | awk '{s += $1} END {print s}' > $DROVER_OUTPUT_DIR/total"]
)", "@RUNS@", runs.string()));
  std::string first = submit(c, bundle);
  REQUIRE(c.cli({"wait", first}).exit_code == 0);
  REQUIRE(lines_in(runs) == 6);

  std::string second = submit(c, bundle);
  auto w = c.cli({"wait", second});
  INFO(w.err);
  REQUIRE(w.exit_code == 0);
  CHECK(lines_in(runs) == 6);  // nothing ran again
  for (const auto& t : tasks_of(c, second)) {
    CHECK(t["cached"] == true);
    CHECK(t["state"] == "succeeded");
    CHECK(t["attempts"].empty());
  }
  auto out = c.cli({"output", second, "--to", (tmp.path / "out").string()});
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "sum" / "0" / "total") == "30\n");

  // A changed command is another key: everything runs.
  auto changed = write_bundle(tmp.path / "b2", replace_all(read_text(bundle / "job.yaml"), "echo square", "echo  square"));
  std::string third = submit(c, changed);
  REQUIRE(c.cli({"wait", third}).exit_code == 0);
  CHECK(lines_in(runs) == 12);
}

TEST_CASE("partial lists exactly the poisoned inputs and rerun --failed-only runs only them", "[integration][dataparallel]") {
  TempDir tmp;
  // One worker, and the poisoned tasks' 4 failures may come 3 in a row: it
  // would then be excluded for the default 5 m with the retries still to run.
  Cluster c(tmp.path / "cluster", {"--exclude-for", "500ms"});
  start_cluster(c, 1, 2);
  const fs::path runs = tmp.path / "runs";
  const fs::path poison = tmp.path / "poison";
  fs::create_directories(poison);
  std::ofstream(poison / "b");
  std::ofstream(poison / "e");
  auto bundle = write_bundle(tmp.path / "b", replace_all(replace_all(R"(name: poisoned
max_attempts: 2
retry_backoff: 100ms
max_failed_tasks: 2
env: {RUNS: "@RUNS@", POISON: "@POISON@"}
stages:
  - name: check
    command: ["sh", "-c", "echo {input} >> $RUNS; test -e $POISON/{input} && exit 3; echo ok {input} > $DROVER_OUTPUT_DIR/r"]
    inputs: {items: [a, b, c, d, e, f]}
  - name: merge
    after: [check]
    command: ["sh", "-c", "cat $DROVER_INPUT_DIR/check/*/r | sort > $DROVER_OUTPUT_DIR/all"]
)", "@RUNS@", runs.string()), "@POISON@", poison.string()));
  std::string job = submit(c, bundle);
  auto w = c.cli({"wait", job});
  INFO(w.err);
  REQUIRE(w.exit_code == 4);  // partial
  CHECK(job_state(c, job) == "partial");
  auto info = c.get("/api/v1/jobs/" + job);
  std::set<std::string> failed;
  for (const auto& f : info["failed_tasks"]) failed.insert(f["input"].get<std::string>());
  CHECK(failed == std::set<std::string>{"b", "e"});
  auto status = c.cli({"status", job});
  CHECK(status.out.find("b") != std::string::npos);
  REQUIRE(c.cli({"output", job, "--to", (tmp.path / "out1").string()}).exit_code == 0);
  CHECK(read_text(tmp.path / "out1" / "merge" / "0" / "all") == "ok a\nok c\nok d\nok f\n");
  CHECK(lines_in(runs) == 8);  // 4 good + 2 poisoned x 2 attempts

  fs::remove_all(poison);
  fs::create_directories(poison);
  auto rerun = c.cli({"rerun", job, "--failed-only", "--wait"});
  INFO(rerun.err);
  REQUIRE(rerun.exit_code == 0);
  std::string again = first_line(rerun.out);
  CHECK(lines_set(read_text(runs)) == std::set<std::string>{"a", "b", "c", "d", "e", "f"});
  CHECK(lines_in(runs) == 10);  // only b and e ran again
  CHECK(c.get("/api/v1/jobs/" + again)["rerun_of"] == job);
  REQUIRE(c.cli({"output", again, "--to", (tmp.path / "out2").string()}).exit_code == 0);
  CHECK(read_text(tmp.path / "out2" / "merge" / "0" / "all") ==
        "ok a\nok b\nok c\nok d\nok e\nok f\n");
}

TEST_CASE("one poisoned input too many fails the job", "[integration][dataparallel]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  auto bundle = write_bundle(tmp.path / "b", R"(name: toomany
max_attempts: 1
max_failed_tasks: 1
stages:
  - name: s
    command: ["sh", "-c", "case {input} in x*) exit 3;; esac"]
    inputs: {items: [x1, ok, x2]}
)");
  std::string job = submit(c, bundle);
  CHECK(c.cli({"wait", job}).exit_code == 1);
  CHECK(job_state(c, job) == "failed");
}

TEST_CASE("max_running caps concurrently running tasks", "[integration][dataparallel]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 2, 4);
  const fs::path running = tmp.path / "running";
  fs::create_directories(running);
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: capped
max_running: 2
env: {RUN: "@RUN@"}
stages:
  - name: s
    command: ["sh", "-c", "touch $RUN/{index}; ls $RUN | wc -l >> $RUN.seen; sleep 0.3; rm $RUN/{index}"]
    inputs: {range: 8}
)", "@RUN@", running.string()));
  std::string job = submit(c, bundle);
  REQUIRE(c.cli({"wait", job}).exit_code == 0);
  std::set<std::string> seen = lines_set(read_text(tmp.path / "running.seen"));
  REQUIRE_FALSE(seen.empty());
  for (const std::string& n : seen) CHECK(std::stoi(n) <= 2);
}

TEST_CASE("speculation reruns a straggler on another worker and kills the loser", "[integration][dataparallel]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 2, 4);
  TaskPids pids(tmp.path / "pids");
  // Index 3's first attempt hangs; every other run takes ~0.2s.
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: straggler
speculation: true
env: {PIDS: "@PIDS@"}
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> $PIDS/{index}-{attempt}; if [ {index} = 3 ] && [ {attempt} = 1 ]; then sleep 60; fi; sleep 0.2; echo {index} > $DROVER_OUTPUT_DIR/o"]
    inputs: {range: 4}
)", "@PIDS@", pids.dir.string()));
  std::string job = submit(c, bundle);
  auto w = c.cli({"wait", job}, 40s);
  INFO(w.err);
  REQUIRE(w.exit_code == 0);
  nlohmann::json straggler;
  for (const auto& t : tasks_of(c, job)) {
    if (t["index"] == 3) straggler = t;
  }
  REQUIRE(straggler["attempts"].size() == 2);
  CHECK(straggler["attempts"][0]["state"] == "killed");
  CHECK(straggler["attempts"][1]["state"] == "succeeded");
  CHECK(straggler["attempts"][0]["worker"] != straggler["attempts"][1]["worker"]);
  auto first = pids.read("3-1");
  REQUIRE(first.size() == 1);
  CHECK(wait_until([&] { return !alive(first[0]); }, 10s));
}

TEST_CASE("shared output store: outputs never pass through the master", "[integration][dataparallel]") {
  TempDir tmp;
  const fs::path store = tmp.path / "store";
  fs::create_directories(store);
  Cluster c(tmp.path / "cluster", {"--output-store", "shared:" + store.string()});
  start_cluster(c, 2, 2);
  // 16 maps x 2 partitions x 256 KiB of output each: 8 MiB of intermediate data.
  auto bundle = write_bundle(tmp.path / "b", R"(name: shared
stages:
  - name: map
    command: ["sh", "-c", "for r in 0 1; do mkdir -p $DROVER_OUTPUT_DIR/$r; head -c 262144 /dev/zero | tr '\\0' \"$r\" > $DROVER_OUTPUT_DIR/$r/data; done"]
    inputs: {range: 16}
  - name: reduce
    after: [map]
    partitions: 2
    command: ["sh", "-c", "cat $DROVER_INPUT_DIR/map/*/data | wc -c > $DROVER_OUTPUT_DIR/bytes; cat $DROVER_INPUT_DIR/map/*/data | tr -d '{index}' | wc -c > $DROVER_OUTPUT_DIR/foreign"]
)");
  const auto before = c.get("/api/v1/cluster")["bytes_received"].get<std::uint64_t>();
  std::string job = submit(c, bundle);
  auto w = c.cli({"wait", job});
  INFO(w.err);
  REQUIRE(w.exit_code == 0);
  REQUIRE(c.cli({"output", job, "--to", (tmp.path / "out").string()}).exit_code == 0);
  for (int r = 0; r < 2; ++r) {
    fs::path dir = tmp.path / "out" / "reduce" / std::to_string(r);
    CHECK(read_text(dir / "bytes") == "4194304\n");  // 16 x 256 KiB of its own partition
    CHECK(read_text(dir / "foreign") == "0\n");      // and nothing of the other one
  }
  const auto received = c.get("/api/v1/cluster")["bytes_received"].get<std::uint64_t>() - before;
  UNSCOPED_INFO("master received " << received << " bytes for 8 MiB of outputs");
  CHECK(received < 1'000'000);  // bundle + control messages only
  // The committed outputs are directories on the shared store.
  std::size_t committed = 0;
  for (const auto& e : fs::recursive_directory_iterator(store / "outputs")) {
    committed += e.is_regular_file() && e.path().filename() == "data";
  }
  CHECK(committed == 32);
}

TEST_CASE("group_bytes packs consecutive files and the task sees them all", "[integration][dataparallel]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  std::map<std::string, std::string> files;
  for (int i = 0; i < 10; ++i) files["data/f" + std::to_string(i)] = std::string(100, 'x');
  // 100-byte files, groups of about 250 bytes: a group closes before the file that
  // would overflow it, so 5 tasks of 2 files each.
  auto bundle = write_bundle(tmp.path / "b", R"(name: grouped
stages:
  - name: s
    command: ["sh", "-c", "cat $DROVER_INPUT_LIST > $DROVER_OUTPUT_DIR/list; for f in \"$@\"; do basename $f; done > $DROVER_OUTPUT_DIR/args; basename $DROVER_INPUT > $DROVER_OUTPUT_DIR/first", "sh", "{inputs}"]
    inputs: {files: ["data/*"], group_bytes: 250}
)", files);
  std::string job = submit(c, bundle);
  REQUIRE(c.cli({"wait", job}).exit_code == 0);
  REQUIRE(c.get("/api/v1/jobs/" + job)["task_count"] == 5);
  REQUIRE(c.cli({"output", job, "--to", (tmp.path / "out").string()}).exit_code == 0);
  for (int t = 0; t < 5; ++t) {
    fs::path dir = tmp.path / "out" / "s" / std::to_string(t);
    std::string a = "f" + std::to_string(2 * t), b = "f" + std::to_string(2 * t + 1);
    CHECK(read_text(dir / "args") == a + "\n" + b + "\n");
    CHECK(read_text(dir / "first") == a + "\n");
    std::string list = read_text(dir / "list");
    CHECK(std::count(list.begin(), list.end(), '\n') == 2);
    CHECK(list.find("/data/" + a + "\n") != std::string::npos);
    CHECK(list.front() == '/');  // absolute paths
  }
}
