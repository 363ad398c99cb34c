// Lineage reports (missing upstream outputs), a full work_dir, and the process
// group records that let a restarted worker kill a crashed run's orphans.
#include <signal.h>
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <thread>

#include "tests/unit/worker_runner_fixture.hpp"
#include "worker/executor/process_group_record.hpp"
#include "worker/sandbox/disk_space.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;
using testing::pack_files;
using testing::RunnerFixture;

TEST_CASE_METHOD(RunnerFixture, "missing or corrupt upstream outputs are listed in the report",
                 "[worker][lineage]") {
  const std::string good = pack_files(src.path / "good", {{"part", "1"}});
  const std::string not_tar = "not a tar archive";
  const std::string wrong = std::string(64, 'e');  // served bytes do not match
  master.blobs[sha256_hex(good)] = good;
  master.blobs[sha256_hex(not_tar)] = not_tar;
  master.blobs[wrong] = "bytes of something else";
  const UpstreamOutput ok{"a", 0, sha256_hex(good)};
  const UpstreamOutput missing{"a", 1, std::string(64, 'd')};  // 404
  const UpstreamOutput mismatch{"b", 2, wrong};
  const UpstreamOutput corrupt{"b", 3, sha256_hex(not_tar)};

  SECTION("every upstream is checked") {
    auto a = assignment(20, "true");
    a.upstream = {ok, missing, mismatch, corrupt};
    auto r = run(a);
    CHECK(r.state == AttemptState::failed);
    CHECK(r.reason == "drover_error");
    CHECK(r.message == "upstream output a/1 is missing or corrupt (and 2 more)");
    REQUIRE(r.missing_upstream.size() == 3);
    CHECK(r.missing_upstream[0].digest == missing.digest);
    CHECK(r.missing_upstream[1].stage == "b");
    CHECK(r.missing_upstream[1].index == 2);
    CHECK(r.missing_upstream[2].digest == corrupt.digest);
    CHECK_FALSE(started(20));
  }
  SECTION("one missing") {
    auto a = assignment(21, "true");
    a.upstream = {missing, ok};
    auto r = run(a);
    CHECK(r.message == "upstream output a/1 is missing or corrupt");
    REQUIRE(r.missing_upstream.size() == 1);
    CHECK(r.missing_upstream[0].index == 1);
  }
  SECTION("an unreachable master is a plain drover_error") {
    REQUIRE(cache.bundle(bundle_digest).ok());  // cached before the master goes away
    master.unreachable_blobs = true;
    auto a = assignment(22, "true");
    a.upstream = {ok, missing};
    auto r = run(a);
    CHECK(r.reason == "drover_error");
    CHECK(r.missing_upstream.empty());
    CHECK_THAT(r.message, !Catch::Contains("missing or corrupt"));
  }
}

TEST_CASE("disk-full errors are recognised", "[worker][disk]") {
  auto full = [](const std::filesystem::path&) { return true; };
  auto not_full = [](const std::filesystem::path&) { return false; };
  CHECK(is_disk_full(make_error(ErrorCode::io, "cannot copy: No space left on device"), "/w",
                     not_full));
  CHECK(is_disk_full(make_error(ErrorCode::io, "cannot unpack \"x\": Write failed"), "/w", full));
  CHECK_FALSE(is_disk_full(make_error(ErrorCode::io, "Write failed"), "/w", not_full));
  CHECK_FALSE(is_disk_full(make_error(ErrorCode::unavailable, "refused"), "/w", full));
  CHECK(disk_full_message("/w", "copy failed") == "no space left on device in /w: copy failed");
}

TEST_CASE_METHOD(RunnerFixture, "a task that ends on a full disk is a drover_error",
                 "[worker][disk]") {
  disk_full = true;
  auto r = run(assignment(30, "echo partial > $DROVER_OUTPUT_DIR/x; exit 0"));
  CHECK(r.state == AttemptState::failed);
  CHECK(r.reason == "drover_error");
  CHECK_THAT(r.message, Catch::StartsWith("no space left on device in " +
                                          AttemptPaths::under(work_path, 30).root.string()));
  CHECK(r.output_digest.empty());
  disk_full = false;  // space freed: the worker goes on
  CHECK(run(assignment(31, "true")).state == AttemptState::succeeded);
}

namespace {

// A 512 KiB tmpfs (root only); unmounted on destruction.
struct SmallDisk {
  SmallDisk() { mounted = ::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, "size=512k") == 0; }
  ~SmallDisk() {
    if (mounted) ::umount2(dir.path.c_str(), MNT_DETACH);
  }
  test::TempDir dir;
  bool mounted = false;
};

std::string random_bytes(std::size_t n) {
  std::mt19937 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("a full work_dir fails attempts and the worker goes on", "[worker][disk]") {
  SmallDisk disk;
  if (!disk.mounted) {
    WARN("cannot mount a tmpfs here (needs root): real ENOSPC not exercised");
    return;
  }
  RunnerFixture f(disk.dir.path);
  f.real_disk_probe = true;
  auto add_bundle = [&](const std::string& name, std::size_t bytes) {
    std::string packed = pack_files(f.src.path / name, {{"job.yaml", "name: t\n"},
                                                        {"data", random_bytes(bytes)}});
    f.master.blobs[sha256_hex(packed)] = packed;
    return sha256_hex(packed);
  };
  const std::string huge = add_bundle("huge", 700 * 1024);   // cannot even be cached
  const std::string large = add_bundle("large", 300 * 1024);  // fits: sandboxes hard-link it

  auto a = f.assignment(40, "true");
  a.bundle_digest = huge;
  auto r = f.run(a);
  CHECK(r.reason == "drover_error");
  CHECK_THAT(r.message, Catch::StartsWith("no space left on device in " + disk.dir.path.string()));

  a = f.assignment(41, "true");
  a.bundle_digest = large;
  r = f.run(a);
  CHECK(r.state == AttemptState::succeeded);  // no copy of the bundle was needed

  r = f.run(f.assignment(42, "head -c 1000000 /dev/zero > $DROVER_OUTPUT_DIR/big; echo done"));
  CHECK(r.reason == "drover_error");
  CHECK_THAT(r.message, Catch::StartsWith("no space left on device in "));

  r = f.run(f.assignment(43, "echo fine > $DROVER_OUTPUT_DIR/x"));
  CHECK(r.state == AttemptState::succeeded);
  CHECK_FALSE(r.output_digest.empty());
}

TEST_CASE_METHOD(RunnerFixture, "a running attempt's process group is recorded beside it",
                 "[worker][orphans]") {
  auto a = assignment(50, "sleep 30");
  auto attempt = runner.admit(a);
  REQUIRE(attempt);
  std::thread t([&] { runner.run(a, attempt); });
  const auto record = process_group_file(work_path, 50);
  REQUIRE(test::wait_until([&] { return started(50) && std::filesystem::exists(record); }, 10s));
  auto text = read_file(record);
  CHECK(text.ok());
  CHECK(table.kill({50}, "killed", "test") == 1);
  t.join();
  CHECK_FALSE(std::filesystem::exists(record));
}

TEST_CASE("recorded process groups of an earlier run are killed at startup", "[worker][orphans]") {
  test::TempDir work;
  REQUIRE(make_dirs(work.path / "attempts").ok());
  SpawnOptions spawn;
  spawn.argv = {"sleep", "30"};
  spawn.new_process_group = true;
  pid_t pid = spawn_process(spawn).value();
  // A reused record file (SpareAttemptDirs) is overwritten whole, untruncated.
  REQUIRE(record_process_group(process_group_file(work.path, 7), 999999999).ok());
  REQUIRE(record_process_group(process_group_file(work.path, 7), pid).ok());
  CHECK(std::filesystem::file_size(process_group_file(work.path, 7)) == kRecordBytes);
  // Records from another boot, or of groups that are gone, are left alone.
  REQUIRE(write_file_atomic(work.path / "attempts" / "8.pgid",
                            std::to_string(pid) + " another-boot 1\n")
              .ok());
  REQUIRE(write_file_atomic(work.path / "attempts" / "9.pgid", "999999999 x 1\n").ok());
  CHECK(kill_recorded_groups(work.path) == 1);
  auto status = wait_process(pid, 5s);
  if (!status) ::kill(pid, SIGKILL), status = wait_process(pid, 5s);
  REQUIRE(status);
  CHECK(status->signal == SIGKILL);
}
