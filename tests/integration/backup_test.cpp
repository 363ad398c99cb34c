// `drover-master backup` of a live master and `drover-master restore` into a
// fresh data dir, end to end with the real binaries.
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

CliResult master_cmd(const std::vector<std::string>& args, const fs::path& scratch) {
  std::vector<std::string> argv = {binary("drover-master").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, 60s, scratch);
}

// The "<digest> <bytes>" lines of a manifest.
std::vector<std::pair<std::string, std::uint64_t>> manifest_blobs(const fs::path& file) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& line : lines_of(read_text(file))) {
    if (line[0] == '#') continue;
    auto space = line.find(' ');
    out.emplace_back(line.substr(0, space), std::stoull(line.substr(space + 1)));
  }
  return out;
}

fs::path blob_path(const fs::path& blob_dir, const std::string& digest) {
  return blob_dir / digest.substr(0, 2) / digest;
}

}  // namespace

TEST_CASE("an online backup restored into a fresh data dir brings back jobs, outputs and a running job",
          "[integration][backup]") {
  TempDir tmp;
  Cluster c(tmp.path / "c");
  c.start_worker("w1", 4);
  REQUIRE(c.wait_workers_alive(1));
  const fs::path data = c.root() / "master";
  const fs::path gate = tmp.path / "gate";

  auto done_bundle = write_bundle(tmp.path / "done", R"(name: done
stages:
  - name: s
    command: ["sh", "-c", "echo done-{input} > $DROVER_OUTPUT_DIR/result"]
    inputs: {items: ["a", "b"]}
)");
  std::string done = submit(c, done_bundle);
  REQUIRE(wait_job_ended(c, done, 60s));
  REQUIRE(job_state(c, done) == "succeeded");

  auto slow_bundle = write_bundle(tmp.path / "slow", R"(name: slow
stages:
  - name: s
    command: ["sh", "-c", "while [ ! -e )" + gate.string() + R"( ]; do sleep 0.05; done; echo slow > $DROVER_OUTPUT_DIR/result"]
)");
  std::string slow = submit(c, slow_bundle);
  REQUIRE(wait_until([&] { return tasks_of(c, slow)[0]["state"] == "running"; }, 30s));

  // The backup runs while the master keeps committing: jobs are being submitted.
  const fs::path backup = tmp.path / "state-backup.db";
  auto quick_bundle = write_bundle(tmp.path / "quick", "name: quick\nstages:\n  - name: s\n    command: [\"true\"]\n");
  fs::create_directories(tmp.path / "submitter");
  std::vector<std::string> quick_ids;
  std::thread submitter([&] {
    for (int i = 0; i < 5; ++i) {
      auto r = run_command({binary("drover").string(), "--master", c.url(), "submit", quick_bundle.string()},
                           30s, tmp.path / "submitter");
      if (r.exit_code == 0) quick_ids.push_back(first_line(r.out));
    }
  });
  auto b = master_cmd({"backup", "--to", backup.string(), "--data-dir", data.string()}, tmp.path);
  submitter.join();
  INFO(b.out << b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.out.find("manifest") != std::string::npos);
  REQUIRE(quick_ids.size() == 5);
  for (const auto& id : quick_ids) REQUIRE(wait_job_ended(c, id, 60s));

  // The manifest lists the bundles, outputs and logs, with their sizes.
  auto listed = manifest_blobs(fs::path(backup.string() + ".blobs"));
  std::set<std::string> digests;
  for (const auto& [digest, bytes] : listed) {
    digests.insert(digest);
    CHECK(fs::file_size(blob_path(data / "blobs", digest)) == bytes);
  }
  for (const auto& t : tasks_of(c, done)) {
    CHECK(digests.count(t["output_digest"].get<std::string>()) == 1);
  }
  CHECK(listed.size() >= 4);  // 2 bundles + 2 outputs at least

  // Restore refuses while the master runs on the target data dir.
  auto busy = master_cmd({"restore", "--from", backup.string(), "--data-dir", data.string(), "--force"},
                         tmp.path);
  CHECK(busy.exit_code == 1);
  CHECK(busy.err.find("master is running") != std::string::npos);

  // Disaster: the master stops, its data dir goes away.
  c.stop_master();
  const fs::path old_data = tmp.path / "old-master";
  fs::rename(data, old_data);
  auto restored = master_cmd({"restore", "--from", backup.string(), "--data-dir", data.string(),
                              "--blobs-from", (old_data / "blobs").string()},
                             tmp.path);
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);
  for (const auto& [digest, bytes] : listed) {
    CHECK(fs::file_size(blob_path(data / "blobs", digest)) == bytes);
  }

  c.start_master();  // same address: the worker finds it again
  REQUIRE(c.wait_workers_alive(1));
  CHECK(job_state(c, done) == "succeeded");
  auto out = c.cli({"output", done, "--to", (tmp.path / "out").string()});
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "s" / "0" / "result") == "done-a\n");
  CHECK(read_text(tmp.path / "out" / "s" / "1" / "result") == "done-b\n");

  // The job that ran at backup time is there and finishes once its task may end.
  CHECK(c.get("/api/v1/jobs/" + slow)["state"] == "running");
  std::ofstream(gate) << "go\n";
  REQUIRE(wait_job_ended(c, slow, 60s));
  CHECK(job_state(c, slow) == "succeeded");
  auto slow_out = c.cli({"output", slow, "--to", (tmp.path / "slow-out").string()});
  REQUIRE(slow_out.exit_code == 0);
  CHECK(read_text(tmp.path / "slow-out" / "s" / "0" / "result") == "slow\n");
}

TEST_CASE("backup and restore report bad usage and missing blobs clearly", "[integration][backup]") {
  TempDir tmp;
  auto no_dir = master_cmd({"backup", "--to", (tmp.path / "b.db").string(), "--data-dir",
                            (tmp.path / "nonexistent").string()},
                           tmp.path);
  CHECK(no_dir.exit_code == 2);
  CHECK(no_dir.err.find((tmp.path / "nonexistent").string() + " does not exist") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path / "b.db"));

  auto no_to = master_cmd({"backup", "--data-dir", tmp.path.string()}, tmp.path);
  CHECK(no_to.exit_code == 2);
  CHECK(no_to.err.find("to: is required") != std::string::npos);

  auto no_backup = master_cmd({"restore", "--from", (tmp.path / "absent.db").string(), "--data-dir",
                               (tmp.path / "d").string()},
                              tmp.path);
  CHECK(no_backup.exit_code == 1);
  CHECK(no_backup.err.find("absent.db does not exist") != std::string::npos);

  // A data dir whose blob store lost a blob the state references.
  fs::path data = tmp.path / "c" / "m";  // Cluster logs to tmp/c
  {
    Cluster c(tmp.path / "c", {"--data-dir", data.string()});
    c.start_worker("w1", 1);
    REQUIRE(c.wait_workers_alive(1));
    auto bundle = write_bundle(tmp.path / "one", "name: one\nstages:\n  - name: s\n    command: [\"sh\", \"-c\", \"echo x > $DROVER_OUTPUT_DIR/x\"]\n");
    std::string id = submit(c, bundle);
    REQUIRE(wait_job_ended(c, id, 60s));
    std::string lost = tasks_of(c, id)[0]["output_digest"];
    fs::remove(blob_path(data / "blobs", lost));
    auto b = master_cmd({"backup", "--to", (tmp.path / "b.db").string(), "--data-dir", data.string()},
                        tmp.path);
    CHECK(b.exit_code == 1);
    CHECK(b.err.find(lost) != std::string::npos);
    CHECK(b.err.find("missing") != std::string::npos);
    // Restoring it without the blob fails too and installs nothing.
    auto r = master_cmd({"restore", "--from", (tmp.path / "b.db").string(), "--data-dir",
                         (tmp.path / "fresh").string(), "--blobs-from", (data / "blobs").string()},
                        tmp.path);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(lost) != std::string::npos);
    CHECK_FALSE(fs::exists(tmp.path / "fresh" / "state.db"));
  }
}
