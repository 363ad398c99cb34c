// Checkpoints (SPEC §4 guarantee 6): restore before spawn, periodic saves off
// the wait path, a final save whose digest goes into the report, fencing.
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "tests/unit/worker_runner_fixture.hpp"
#include "worker/checkpoint/checkpointer.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;
using testing::pack_files;
using testing::RunnerFixture;

namespace {

// The content of file `name` inside checkpoint blob `digest` held by the master.
std::string checkpoint_file(testing::FakeMaster& master, const std::string& digest,
                            const std::string& name) {
  std::string blob;
  {
    std::lock_guard lock(master.mu);
    REQUIRE(master.blobs.count(digest) == 1);
    blob = master.blobs.at(digest);
  }
  test::TempDir out;
  REQUIRE(unpack_archive(blob, out.path).ok());
  return read_file(out.path / name).value();
}

}  // namespace

TEST_CASE("tree fingerprint follows paths, sizes and mtimes", "[worker][checkpoint]") {
  test::TempDir dir;
  CHECK(tree_fingerprint(dir.path).value().empty());
  std::ofstream(dir.path / "a") << "1";
  auto one = tree_fingerprint(dir.path).value();
  CHECK_FALSE(one.empty());
  CHECK(tree_fingerprint(dir.path).value() == one);
  std::ofstream(dir.path / "a", std::ios::app) << "2";
  CHECK(tree_fingerprint(dir.path).value() != one);
}

TEST_CASE_METHOD(RunnerFixture, "a checkpoint is restored before spawn and saved on exit",
                 "[worker][checkpoint]") {
  const std::string restored = pack_files(src.path / "ckpt", {{"state", "41"}});
  const std::string restored_digest = sha256_hex(restored);
  master.blobs[restored_digest] = restored;

  SECTION("changed: saved, its digest reported") {
    auto a = assignment(1, "test \"$(cat $DROVER_CHECKPOINT_DIR/state)\" = 41 || exit 7; "
                           "echo 42 > $DROVER_CHECKPOINT_DIR/state");
    a.checkpoint_digest = restored_digest;
    auto r = run(a);
    CHECK(r.state == AttemptState::succeeded);
    REQUIRE_FALSE(r.checkpoint_digest.empty());
    CHECK(r.checkpoint_digest != restored_digest);
    CHECK(checkpoint_file(master, r.checkpoint_digest, "state") == "42\n");
    std::lock_guard lock(master.mu);
    REQUIRE(master.checkpoints.size() == 1);
    CHECK(master.checkpoints[0] == std::make_pair(std::int64_t{1}, r.checkpoint_digest));
  }
  SECTION("unchanged: nothing uploaded, the restored digest reported") {
    auto a = assignment(2, "cat $DROVER_CHECKPOINT_DIR/state");
    a.checkpoint_digest = restored_digest;
    auto r = run(a);
    CHECK(r.state == AttemptState::succeeded);
    CHECK(r.checkpoint_digest == restored_digest);
    CHECK(master.checkpoint_count() == 0);
  }
  SECTION("a failed attempt saves it too") {
    auto a = assignment(3, "echo 5 > $DROVER_CHECKPOINT_DIR/step; exit 3");
    auto r = run(a);
    CHECK(r.reason == "exit_code");
    REQUIRE_FALSE(r.checkpoint_digest.empty());
    CHECK(checkpoint_file(master, r.checkpoint_digest, "step") == "5\n");
  }
  SECTION("no checkpoint written: none reported") {
    auto r = run(assignment(4, "true"));
    CHECK(r.checkpoint_digest.empty());
    CHECK(master.checkpoint_count() == 0);
  }
  SECTION("a checkpoint that cannot be downloaded fails the attempt before spawn") {
    auto a = assignment(5, "true");
    a.checkpoint_digest = std::string(64, 'c');
    auto r = run(a);
    CHECK(r.state == AttemptState::failed);
    CHECK(r.reason == "drover_error");
    CHECK_THAT(r.message, Catch::Contains("restore of checkpoint failed"));
    CHECK_FALSE(started(5));
  }
}

TEST_CASE_METHOD(RunnerFixture, "a running attempt's checkpoint is saved every interval",
                 "[worker][checkpoint]") {
  // Step 1 is written at once; step 2 once the test creates `go` in the sandbox.
  auto a = assignment(10,
                      "echo 1 > $DROVER_CHECKPOINT_DIR/step; i=0; "
                      "while [ ! -f go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
                      "echo 2 > $DROVER_CHECKPOINT_DIR/step; "
                      "while [ ! -f done ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i+1)); done");
  a.checkpoint_interval_ms = 100;
  auto attempt = runner.admit(a);
  REQUIRE(attempt);
  std::thread t([&] { runner.run(a, attempt); });
  const auto sandbox = attempt->paths().sandbox;

  REQUIRE(test::wait_until([&] { return master.checkpoint_count() >= 1; }, 10s));
  CHECK(master.report_count() == 0);  // saved while the task runs
  std::ofstream(sandbox / "go") << "";
  REQUIRE(test::wait_until([&] { return master.checkpoint_count() >= 2; }, 10s));
  CHECK(master.report_count() == 0);
  std::this_thread::sleep_for(350ms);  // a few intervals: unchanged, nothing saved
  CHECK(master.checkpoint_count() == 2);
  std::ofstream(sandbox / "done") << "";
  t.join();

  auto r = report_of(10);
  CHECK(r.state == AttemptState::succeeded);
  std::string first, second;
  {
    std::lock_guard lock(master.mu);
    REQUIRE(master.checkpoints.size() == 2);  // the final save found nothing new
    first = master.checkpoints[0].second;
    second = master.checkpoints[1].second;
  }
  CHECK(checkpoint_file(master, first, "step") == "1\n");
  CHECK(checkpoint_file(master, second, "step") == "2\n");
  CHECK(r.checkpoint_digest == second);
}

TEST_CASE_METHOD(RunnerFixture, "a checkpoint refused with 409 kills the attempt",
                 "[worker][checkpoint]") {
  master.fence_on_checkpoint = true;
  auto a = assignment(11, "echo x > $DROVER_CHECKPOINT_DIR/s; sleep 30");
  a.checkpoint_interval_ms = 50;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(a);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  CHECK(r.state == AttemptState::killed);
  CHECK(r.reason == "killed");
  CHECK(r.message == "fenced by the master");
  CHECK(master.checkpoint_count() == 1);  // no more saves once fenced
}
