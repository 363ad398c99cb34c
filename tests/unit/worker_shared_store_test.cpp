// A shared output store (RegistrationReply::output_store = "shared:/root"):
// blobs go to <root>/blobs instead of the master's HTTP API, a task writes its
// output into <root>/attempts/a-<id>, which is removed unless the master may
// commit it, and upstream "shared:" refs are symlinked (missing: lineage).
#include <catch2/catch.hpp>
#include <fstream>

#include "common/fs/blob_dir.hpp"
#include "common/proto/output_ref.hpp"
#include "tests/unit/worker_runner_fixture.hpp"

using namespace drover;
using namespace drover::worker;
using testing::FakeMaster;
using testing::RunnerFixture;
namespace fs = std::filesystem;

namespace {

// A runner fixture whose master said "shared:<shared>"; the bundle is in the
// shared BlobDir (as the master's own blob store puts it there).
struct SharedFixture : RunnerFixture {
  SharedFixture() {
    REQUIRE(blobs.put(bundle_digest, master.blobs.at(bundle_digest)).ok());
    master.output_store = "shared:" + shared.path.string();
    REQUIRE(routed.register_worker(WorkerRegistration{}).ok());
    REQUIRE(store.shared_root() == shared.path);
  }

  fs::path attempt_dir(std::int64_t id) const {
    return shared.path / "attempts" / ("a-" + std::to_string(id));
  }
  int http_blob_calls() {
    std::lock_guard lock(master.mu);
    return master.blob_fetches + master.blob_uploads;
  }

  test::TempDir shared;
  BlobDir blobs{shared.path / "blobs"};
};

}  // namespace

TEST_CASE("the first registration reply fixes the output store", "[worker][shared]") {
  OutputStore store;
  CHECK_FALSE(store.shared_root());  // "master" until told otherwise
  SECTION("shared, then a different reply is ignored") {
    CHECK(store.adopt("shared:/mnt/drover/"));
    CHECK(store.shared_root() == fs::path("/mnt/drover/"));
    CHECK(store.shared_blobs()->root() == fs::path("/mnt/drover/blobs"));
    CHECK(store.adopt("shared:/mnt/drover/"));  // the same again: fine
    CHECK_FALSE(store.adopt("master"));
    CHECK_FALSE(store.adopt("shared:/elsewhere"));
    CHECK(store.shared_root() == fs::path("/mnt/drover/"));
  }
  SECTION("master, then shared is ignored") {
    CHECK(store.adopt("master"));
    CHECK_FALSE(store.adopt("shared:/mnt/drover"));
    CHECK_FALSE(store.shared_root());
    CHECK_FALSE(store.shared_blobs());
  }
  SECTION("a malformed setting is ignored and does not fix the mode") {
    CHECK_FALSE(store.adopt("shared:relative/path"));
    CHECK_FALSE(store.adopt("nfs"));
    CHECK_FALSE(store.shared_root());
    CHECK(store.adopt("shared:/x"));
    CHECK(store.shared_root() == fs::path("/x"));
  }
}

TEST_CASE("StoreMasterApi sends blobs to the shared BlobDir, not over HTTP", "[worker][shared]") {
  FakeMaster master;
  OutputStore store;
  StoreMasterApi api(master, store);
  test::TempDir shared;
  const std::string content = "some bytes";
  const std::string digest = sha256_hex(content);

  // Before registration: the master's HTTP API.
  REQUIRE(api.upload_blob(digest, content).ok());
  CHECK(master.blob_uploads == 1);
  CHECK(api.fetch_blob(digest).value() == content);
  CHECK(master.blob_fetches == 1);

  master.output_store = "shared:" + shared.path.string();
  REQUIRE(api.register_worker(WorkerRegistration{}).ok());
  const std::string other = "other bytes";
  REQUIRE(api.upload_blob(sha256_hex(other), other).ok());
  CHECK(BlobDir(shared.path / "blobs").get(sha256_hex(other)).value() == other);
  CHECK(api.fetch_blob(sha256_hex(other)).value() == other);
  CHECK(api.fetch_blob(digest).error().code == ErrorCode::not_found);  // only in the master
  CHECK(api.upload_blob(digest, "not its content").error().code == ErrorCode::invalid_argument);
  CHECK(master.blob_uploads == 1);
  CHECK(master.blob_fetches == 1);

  // A later registration that says otherwise changes nothing.
  master.output_store = "master";
  REQUIRE(api.register_worker(WorkerRegistration{}).ok());
  CHECK(api.fetch_blob(sha256_hex(other)).value() == other);
  CHECK(master.blob_fetches == 1);
}

TEST_CASE_METHOD(SharedFixture, "a shared-store task writes its output in place",
                 "[worker][shared]") {
  auto a = assignment(40,
                      "echo \"$DROVER_OUTPUT_DIR\" > \"$DROVER_OUTPUT_DIR/where\" && "
                      "mkdir \"$DROVER_OUTPUT_DIR/0\" && printf 12345 > \"$DROVER_OUTPUT_DIR/0/p\" "
                      "&& ln -s where \"$DROVER_OUTPUT_DIR/link\" && echo to-stdout");
  auto r = run(a);
  REQUIRE(r.state == AttemptState::succeeded);
  CHECK(r.output_digest == "shared:attempts/a-40");
  CHECK(r.output_digest == attempt_output_ref(40));
  const std::string where = attempt_dir(40).string() + "\n";
  CHECK(r.output_bytes == where.size() + 5);  // regular files only
  // Left for the master to commit (by renaming it).
  CHECK(read_file(attempt_dir(40) / "where").value() == where);
  CHECK(read_file(attempt_dir(40) / "0/p").value() == "12345");
  // The bundle came from, and the log went to, the shared BlobDir.
  REQUIRE_FALSE(r.stdout_digest.empty());
  CHECK(blobs.get(r.stdout_digest).value() == "to-stdout\n");
  CHECK(http_blob_calls() == 0);
}

TEST_CASE_METHOD(SharedFixture, "a shared-store output is removed when it cannot be committed",
                 "[worker][shared]") {
  const std::string write = "echo data > \"$DROVER_OUTPUT_DIR/f\"";
  SECTION("the task failed") {
    auto r = run(assignment(41, write + " && exit 3"));
    CHECK(r.state == AttemptState::failed);
    CHECK(r.output_digest.empty());
    CHECK(r.output_bytes == 0);
    CHECK_FALSE(fs::exists(attempt_dir(41)));
  }
  SECTION("the master answers 409 to the finished report") {
    master.reject_finished = ErrorCode::conflict;
    auto r = run(assignment(42, write));
    CHECK(r.state == AttemptState::succeeded);  // reported, then refused
    CHECK_FALSE(fs::exists(attempt_dir(42)));
  }
  SECTION("the master answers 404 to the finished report") {
    master.reject_finished = ErrorCode::not_found;
    (void)run(assignment(43, write));
    CHECK_FALSE(fs::exists(attempt_dir(43)));
  }
  SECTION("fenced at start") {
    master.fence_on_start = true;
    auto a = assignment(44, write + " && sleep 30");
    auto attempt = runner.admit(a);
    REQUIRE(attempt);
    runner.run(a, attempt);
    CHECK(master.reports.empty());
    CHECK_FALSE(fs::exists(attempt_dir(44)));
  }
  SECTION("killed") {
    auto a = assignment(45, write + " && sleep 30");
    auto attempt = runner.admit(a);
    REQUIRE(attempt);
    attempt->request_kill(FailureReason::killed, "cancelled");  // before it starts
    runner.run(a, attempt);
    CHECK(report_of(45).state == AttemptState::killed);
    CHECK_FALSE(fs::exists(attempt_dir(45)));
  }
  CHECK(http_blob_calls() == 0);
}

TEST_CASE_METHOD(SharedFixture, "a stale attempt dir on the shared store is replaced",
                 "[worker][shared]") {
  REQUIRE(make_dirs(attempt_dir(46)).ok());
  std::ofstream(attempt_dir(46) / "stale") << "old";
  auto r = run(assignment(46, "test -z \"$(ls -A \"$DROVER_OUTPUT_DIR\")\" && touch "
                              "\"$DROVER_OUTPUT_DIR/new\""));
  REQUIRE(r.state == AttemptState::succeeded);  // the task found its output dir empty
  CHECK_FALSE(fs::exists(attempt_dir(46) / "stale"));
  CHECK(fs::exists(attempt_dir(46) / "new"));
}

TEST_CASE_METHOD(SharedFixture, "shared upstream outputs are linked and missing ones are lineage",
                 "[worker][shared][lineage]") {
  REQUIRE(make_dirs(shared.path / "outputs/j-1/map/0").ok());
  std::ofstream(shared.path / "outputs/j-1/map/0/part") << "up";
  const UpstreamOutput present{"map", 0, "shared:outputs/j-1/map/0"};
  const UpstreamOutput gone{"map", 1, "shared:outputs/j-1/map/1"};
  SECTION("present") {
    auto a = assignment(50, "cat \"$DROVER_INPUT_DIR/map/0/part\" > \"$DROVER_OUTPUT_DIR/got\"");
    a.upstream = {present};
    auto r = run(a);
    REQUIRE(r.state == AttemptState::succeeded);
    CHECK(read_file(attempt_dir(50) / "got").value() == "up");
  }
  SECTION("missing") {
    auto a = assignment(51, "true");
    a.upstream = {present, gone};
    auto r = run(a);
    CHECK(r.state == AttemptState::failed);
    CHECK(r.reason == FailureReason::drover_error);
    CHECK(r.message == "upstream output map/1 is missing or corrupt");
    REQUIRE(r.missing_upstream.size() == 1);
    CHECK(r.missing_upstream[0].digest == gone.digest);
    CHECK(r.missing_upstream[0].index == 1);
    CHECK_FALSE(started(51));
    CHECK_FALSE(fs::exists(attempt_dir(51)));
  }
}
