// collect_garbage() on real directories: which blobs, shared output directories
// and attempt directories it deletes (old, named by nothing, of jobs that are
// gone) and which it keeps; and the `retention` setting's limits.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "common/fs/fs.hpp"
#include "master/config.hpp"
#include "master/store/blob_store.hpp"
#include "master/store/garbage.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::master;
namespace fs = std::filesystem;
using drover::test::TempDir;

namespace {

const TimePoint kNow = from_millis(1'700'000'000'000);

void touch(const fs::path& p, TimePoint t) {
  timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = to_millis(t) / 1000;
  ts[0].tv_nsec = ts[1].tv_nsec = 0;
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

fs::path output_dir(const fs::path& root, const std::string& rel, TimePoint t) {
  fs::path p = root / rel;
  fs::create_directories(p);
  std::ofstream(p / "part-0") << "data";
  touch(p, t);
  return p;
}

}  // namespace

TEST_CASE("garbage collection deletes old unnamed blobs only", "[retention][gc]") {
  TempDir tmp;
  BlobStore blobs(tmp.path / "blobs");
  const std::string kept = sha256_hex("kept"), old = sha256_hex("old"), young = sha256_hex("young");
  for (const char* content : {"kept", "old", "young"}) REQUIRE(blobs.put(sha256_hex(content), content).ok());
  touch(blobs.dir().path_of(kept), kNow - std::chrono::hours(5));
  touch(blobs.dir().path_of(old), kNow - std::chrono::hours(5));
  touch(blobs.dir().path_of(young), kNow - std::chrono::minutes(5));
  // An abandoned temp file of a crashed write, and a quarantined corrupt blob.
  const fs::path temp = blobs.dir().path_of(old).parent_path() / ("." + old + ".tmp-AbCdEf");
  std::ofstream(temp) << "half";
  touch(temp, kNow - std::chrono::hours(5));
  const fs::path corrupt = blobs.dir().path_of(kept).string() + ".corrupt";
  std::ofstream(corrupt) << "bad";
  touch(corrupt, kNow - std::chrono::hours(5));

  GarbageRules rules;
  rules.keep = {kept};
  rules.cutoff = kNow - std::chrono::hours(1);
  GarbageReport r = blobs.collect_garbage(rules);
  CHECK(r.errors.empty());
  CHECK(r.blobs == 2);  // the old blob and the temp file
  CHECK(blobs.has(kept));
  CHECK_FALSE(blobs.has(old));
  CHECK(blobs.has(young));
  CHECK_FALSE(fs::exists(temp));
  CHECK(fs::exists(corrupt));  // kept for a human to look at

  SECTION("uploading a present blob again restarts its grace period") {
    touch(blobs.dir().path_of(kept), kNow - std::chrono::hours(5));
    REQUIRE(blobs.put(kept, "kept").ok());
    CHECK(modified_at(blobs.dir().path_of(kept)) > kNow);  // the real clock is past kNow
    rules.keep.clear();
    blobs.collect_garbage(rules);
    CHECK(blobs.has(kept));
  }
  SECTION("a wrong body for a present digest is still refused") {
    CHECK_FALSE(blobs.put(kept, "not kept").ok());
  }
}

TEST_CASE("the blob store forgets what it knew when a blob is set aside or collected",
          "[retention][gc]") {
  TempDir tmp;
  BlobStore blobs(tmp.path / "blobs");
  const std::string digest = sha256_hex("content");
  REQUIRE(blobs.put(digest, "content").ok());
  CHECK(blobs.has(digest));  // remembered: no stat() for each report that names it
  std::ofstream(blobs.dir().path_of(digest), std::ios::trunc) << "flipped bits";
  CHECK_FALSE(blobs.get(digest).ok());  // corrupt: set aside
  CHECK_FALSE(blobs.has(digest));
}

TEST_CASE("garbage collection on a shared output store deletes outputs of deleted jobs only",
          "[retention][gc]") {
  TempDir tmp;
  const fs::path root = tmp.path / "shared";
  BlobStore blobs(root / "blobs");
  const TimePoint old = kNow - std::chrono::hours(5);
  // j-000001 was deleted; a live job reuses its output 1 (rerun). j-000002 is live.
  auto gone = output_dir(root, "outputs/j-000001/s/0.a1", old);
  auto reused = output_dir(root, "outputs/j-000001/s/1.a2", old);
  auto gone_other_stage = output_dir(root, "outputs/j-000001/t/0.a3", old);
  auto live = output_dir(root, "outputs/j-000002/s/0.a4", old);
  auto future = output_dir(root, "outputs/j-000009/s/0.a9", old);  // not a job of ours (yet)
  auto not_a_job = output_dir(root, "outputs/lost+found/x/y", old);
  auto attempt_gone = output_dir(root, "attempts/a-1", old);
  auto attempt_live = output_dir(root, "attempts/a-4", old);
  auto attempt_young = output_dir(root, "attempts/a-3", kNow - std::chrono::minutes(1));
  auto attempt_future = output_dir(root, "attempts/a-50", old);

  GarbageRules rules;
  rules.keep = {"shared:outputs/j-000001/s/1.a2", "shared:outputs/j-000002/s/0.a4"};
  rules.cutoff = kNow - std::chrono::hours(1);
  rules.shared_root = root;
  rules.next_job_seq = 3;
  rules.live_jobs = {"j-000002"};
  rules.next_attempt_id = 5;
  rules.live_attempts = {4};
  GarbageReport r = blobs.collect_garbage(rules);
  CHECK(r.errors.empty());
  CHECK(r.outputs == 2);
  CHECK(r.attempt_dirs == 1);
  CHECK_FALSE(fs::exists(gone));
  CHECK_FALSE(fs::exists(gone_other_stage.parent_path()));  // emptied stage directories go too
  CHECK(fs::exists(reused / "part-0"));
  CHECK(fs::exists(live / "part-0"));
  CHECK(fs::exists(future));
  CHECK(fs::exists(not_a_job));
  CHECK_FALSE(fs::exists(attempt_gone));
  CHECK(fs::exists(attempt_live));
  CHECK(fs::exists(attempt_young));
  CHECK(fs::exists(attempt_future));

  SECTION("once nothing reuses it, the deleted job's directory goes entirely") {
    rules.keep.erase("shared:outputs/j-000001/s/1.a2");
    r = blobs.collect_garbage(rules);
    CHECK(r.outputs == 1);
    CHECK_FALSE(fs::exists(root / "outputs" / "j-000001"));
    CHECK(fs::exists(live));
  }
}

TEST_CASE("retention is 0 (forever) or at least a minute", "[retention][config]") {
  auto load = [](const std::string& value) {
    return load_master_config({"--retention", value, "--data-dir", "/tmp/unused"});
  };
  auto forever = load("0");
  REQUIRE(forever.ok());
  CHECK(forever->config.retention == Duration{0});
  auto day = load("1d");
  REQUIRE(day.ok());
  CHECK(day->config.retention == std::chrono::hours(24));
  auto short_one = load("30s");
  REQUIRE_FALSE(short_one.ok());
  CHECK(short_one.error().field == "retention");
  CHECK(short_one.error().message.find("at least 1m") != std::string::npos);
}
