#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"
#include "worker/sandbox/blob_cache.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

// A bundle with job.yaml and a script, packed.
std::string make_bundle(const std::filesystem::path& dir) {
  REQUIRE(make_dirs(dir / "bin").ok());
  std::ofstream(dir / "job.yaml") << "name: t\n";
  std::ofstream(dir / "bin" / "run.sh") << "echo hi\n";
  auto packed = pack_directory(dir);
  REQUIRE(packed.ok());
  return *packed;
}

}  // namespace

TEST_CASE("bundle cache downloads once for concurrent requests", "[worker][cache]") {
  test::TempDir src, work;
  const std::string bytes = make_bundle(src.path / "b");
  const std::string digest = sha256_hex(bytes);
  std::atomic<int> calls{0};
  BlobCache cache(work.path, [&](const std::string& d) -> Result<std::string> {
    ++calls;
    std::this_thread::sleep_for(100ms);  // let the other callers pile up
    CHECK(d == digest);
    return bytes;
  });
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto dir = cache.bundle(digest);
      results[i] = dir.ok() ? dir->string() : "error: " + dir.error().message;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(calls == 1);
  for (const auto& r : results) CHECK(r == (work.path / "bundles" / digest).string());
  CHECK(read_file(work.path / "bundles" / digest / "bin" / "run.sh").value() == "echo hi\n");
  REQUIRE(cache.bundle(digest).ok());  // cached on disk now
  CHECK(calls == 1);
}

TEST_CASE("bundle cache refuses content that does not match the digest", "[worker][cache]") {
  test::TempDir src, work;
  const std::string bytes = make_bundle(src.path / "b");
  const std::string digest = sha256_hex(bytes);
  int calls = 0;
  BlobCache cache(work.path, [&](const std::string&) -> Result<std::string> {
    ++calls;
    return calls == 1 ? std::string("tampered") : bytes;
  });
  auto first = cache.bundle(digest);
  REQUIRE_FALSE(first.ok());
  CHECK_THAT(first.error().message, Catch::Contains("download of"));
  auto second = cache.bundle(digest);  // failures are not remembered
  REQUIRE(second.ok());
  CHECK(calls == 2);
  CHECK_FALSE(cache.bundle("not-a-digest").ok());
}

TEST_CASE("bundle cache reports fetch errors", "[worker][cache]") {
  test::TempDir work;
  BlobCache cache(work.path, [](const std::string&) -> Result<std::string> {
    return make_error(ErrorCode::unavailable, "connection refused");
  });
  auto r = cache.bundle(std::string(64, 'a'));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("connection refused"));
}

TEST_CASE("attempt sandbox copies the bundle and stages upstream outputs", "[worker][sandbox]") {
  test::TempDir src, work;
  const std::string bundle = make_bundle(src.path / "b");
  REQUIRE(make_dirs(src.path / "out1").ok());
  std::ofstream(src.path / "out1" / "part") << "upstream data";
  const std::string output = pack_directory(src.path / "out1").value();
  std::map<std::string, std::string> blobs = {{sha256_hex(bundle), bundle},
                                              {sha256_hex(output), output}};
  BlobCache cache(work.path,
                  [&](const std::string& d) -> Result<std::string> { return blobs.at(d); });
  auto paths = AttemptPaths::under(work.path, 9);
  REQUIRE(create_attempt_dirs(paths, cache.bundle(sha256_hex(bundle)).value()).ok());
  std::vector<UpstreamOutput> missing;
  REQUIRE(stage_upstream(paths, {{"count", 4, sha256_hex(output)}}, cache, missing).ok());
  REQUIRE(hand_over(paths, std::nullopt).ok());
  CHECK(read_file(paths.sandbox / "bin" / "run.sh").value() == "echo hi\n");
  CHECK(read_file(paths.input / "count" / "4" / "part").value() == "upstream data");
  CHECK(std::filesystem::is_directory(paths.output));
  CHECK(std::filesystem::is_directory(paths.checkpoint));
  CHECK(std::filesystem::is_directory(paths.tmp));
  auto perms = std::filesystem::status(paths.root).permissions();
  CHECK(perms == std::filesystem::perms::owner_all);
  CHECK_FALSE(stage_upstream(paths, {{"../evil", 0, sha256_hex(output)}}, cache, missing).ok());
}

namespace {

// Every path under `root` with its type and permissions, sorted.
std::vector<std::string> tree_of(const std::filesystem::path& root) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    auto st = e.symlink_status();
    out.push_back(std::filesystem::relative(e.path(), root).string() + " type " +
                  std::to_string(static_cast<int>(st.type())) + " perms " +
                  std::to_string(static_cast<int>(st.permissions())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t spares_in(const std::filesystem::path& attempts) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(attempts)) {
    n += e.path().filename().string().rfind(".spare-", 0) == 0;
  }
  return n;
}

// A worker's work dir, reset as at start, with one bundle in its cache.
struct CachedBundle {
  test::TempDir src, work;
  const std::string bundle = make_bundle(src.path / "b");
  BlobCache cache{work.path, [this](const std::string&) -> Result<std::string> { return bundle; }};
  const std::filesystem::path bundle_dir = cache.bundle(sha256_hex(bundle)).value();
  const std::filesystem::path attempts = work.path / "attempts";
  CachedBundle() { REQUIRE(reset_work_dir(work.path).ok()); }
};

}  // namespace

TEST_CASE_METHOD(CachedBundle, "an attempt made from a spare directory has the tree of one made without",
                 "[worker][sandbox]") {
  SpareAttemptDirs spares(attempts, 2);
  CHECK_FALSE(spares.take(attempts / "nothing-ready"));
  spares.refill();
  spares.refill();  // already full: no more
  CHECK(spares_in(attempts) == 2);

  auto made = AttemptPaths::under(work.path, 1);
  REQUIRE(create_attempt_dirs(made, bundle_dir).ok());
  REQUIRE(hand_over(made, std::nullopt).ok());
  auto from_spare = AttemptPaths::under(work.path, 2);
  REQUIRE(create_attempt_dirs(from_spare, bundle_dir, &spares).ok());
  REQUIRE(hand_over(from_spare, std::nullopt).ok());
  CHECK(spares_in(attempts) == 1);  // one was used
  CHECK(tree_of(from_spare.root) == tree_of(made.root));
  CHECK(read_file(from_spare.sandbox / "bin" / "run.sh").value() == "echo hi\n");

  // Used up, the next attempt makes its own; refill makes them again.
  REQUIRE(create_attempt_dirs(AttemptPaths::under(work.path, 3), bundle_dir, &spares).ok());
  CHECK(spares_in(attempts) == 0);
  REQUIRE(create_attempt_dirs(AttemptPaths::under(work.path, 4), bundle_dir, &spares).ok());
  CHECK(tree_of(AttemptPaths::under(work.path, 4).root) == tree_of(AttemptPaths::under(work.path, 3).root));
  spares.refill();
  CHECK(spares_in(attempts) == 2);
  // A worker's restart removes what an earlier run left.
  REQUIRE(reset_work_dir(work.path).ok());
  CHECK(spares_in(attempts) == 0);
}

TEST_CASE_METHOD(CachedBundle, "a finished attempt's tree is emptied and reused, unless the task changed its shape",
                 "[worker][sandbox]") {
  namespace fs = std::filesystem;
  auto fresh = AttemptPaths::under(work.path, 1);
  REQUIRE(create_attempt_dirs(fresh, bundle_dir).ok());
  REQUIRE(hand_over(fresh, std::nullopt).ok());
  const auto as_made = tree_of(fresh.root);

  // What a task leaves behind: files everywhere, a locked directory, a full log.
  auto used = AttemptPaths::under(work.path, 2);
  REQUIRE(create_attempt_dirs(used, bundle_dir).ok());
  REQUIRE(hand_over(used, std::nullopt).ok());
  REQUIRE(make_dirs(used.tmp / "deep" / "er").ok());
  std::ofstream(used.tmp / "deep" / "er" / "f") << "x";
  std::ofstream(used.output / "result") << "42";
  std::ofstream(used.root / "progress") << "0.5";
  std::ofstream(used.stdout_file) << "lots of output";
  std::ofstream(used.stderr_file) << "";
  fs::permissions(used.tmp / "deep", fs::perms::none);
  fs::permissions(used.checkpoint, fs::perms::owner_all | fs::perms::others_all);

  SECTION("recycled: empty, as the worker made it, the logs kept empty") {
    SpareAttemptDirs spares(attempts, 1, /*recycle=*/true);
    REQUIRE(spares.recycle(used.root));
    CHECK_FALSE(fs::exists(used.root));
    CHECK(spares_in(attempts) == 1);
    CHECK_FALSE(spares.recycle(fresh.root));  // one spare is enough: the caller removes this one
    auto next = AttemptPaths::under(work.path, 3);
    REQUIRE(create_attempt_dirs(next, bundle_dir, &spares).ok());
    REQUIRE(hand_over(next, std::nullopt).ok());
    auto tree = tree_of(next.root);
    // The same tree as a fresh attempt's, plus the two empty logs.
    std::vector<std::string> without_logs;
    for (const auto& line : tree) {
      if (line.rfind("stdout ", 0) != 0 && line.rfind("stderr ", 0) != 0) without_logs.push_back(line);
    }
    CHECK(without_logs == as_made);
    CHECK(tree.size() == as_made.size() + 2);
    CHECK(fs::file_size(next.stdout_file) == 0);
    CHECK(read_file(next.sandbox / "bin" / "run.sh").value() == "echo hi\n");
  }
  SECTION("not recycled when a directory became a link, or recycling is off") {
    SpareAttemptDirs spares(attempts, 1, /*recycle=*/true);
    fs::remove_all(used.input);
    fs::create_directory_symlink(src.path, used.input);
    CHECK_FALSE(spares.recycle(used.root));
    CHECK(spares_in(attempts) == 0);
    CHECK(fs::exists(src.path / "b"));  // the link's target is untouched
    SpareAttemptDirs off(attempts, 1, /*recycle=*/false);
    CHECK_FALSE(off.recycle(fresh.root));
    CHECK(fs::exists(fresh.root));
  }
  SECTION("a log the task replaced with a link is removed, its target untouched") {
    SpareAttemptDirs spares(attempts, 1, /*recycle=*/true);
    std::ofstream(src.path / "target") << "keep me";
    fs::remove(used.stderr_file);
    fs::create_symlink(src.path / "target", used.stderr_file);
    REQUIRE(spares.recycle(used.root));
    auto next = AttemptPaths::under(work.path, 5);
    REQUIRE(spares.take(next.root));
    CHECK_FALSE(fs::exists(fs::symlink_status(next.stderr_file)));
    CHECK(fs::file_size(next.stdout_file) == 0);
    CHECK(read_file(src.path / "target").value() == "keep me");
  }
  SECTION("a shared output store's tree, without output/, is recycled with one") {
    SpareAttemptDirs spares(attempts, 1, /*recycle=*/true);
    fs::remove_all(used.output);
    REQUIRE(spares.recycle(used.root));
    auto next = AttemptPaths::under(work.path, 4);
    REQUIRE(spares.take(next.root));
    CHECK(fs::is_directory(next.output));
    CHECK(fs::is_empty(next.output));
  }
}

TEST_CASE_METHOD(CachedBundle, "a finished attempt's process-group record is reused",
                 "[worker][sandbox]") {
  namespace fs = std::filesystem;
  SpareAttemptDirs spares(attempts, 1, /*recycle=*/false);  // records are reused regardless
  const fs::path first = attempts / "1.pgid", second = attempts / "2.pgid",
                 third = attempts / "3.pgid";
  CHECK_FALSE(spares.take_record(first));  // none kept yet: the caller creates it
  std::ofstream(first) << "123 boot 456\n";
  struct stat made {};
  REQUIRE(::stat(first.c_str(), &made) == 0);

  REQUIRE(spares.recycle_record(first));
  CHECK_FALSE(fs::exists(first));
  // Kept under a spare name, which is not a record a restart acts on.
  std::vector<fs::path> kept;
  for (const auto& e : fs::directory_iterator(attempts)) kept.push_back(e.path());
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].extension() != ".pgid");

  REQUIRE(spares.take_record(second));
  struct stat reused {};
  REQUIRE(::stat(second.c_str(), &reused) == 0);
  CHECK(reused.st_ino == made.st_ino);

  // At most `keep` are kept; the rest are the caller's to remove.
  std::ofstream(third) << "";
  REQUIRE(spares.recycle_record(second));
  CHECK_FALSE(spares.recycle_record(third));
  CHECK(fs::exists(third));
  // A record that was never written (its task never started): nothing kept.
  CHECK_FALSE(spares.recycle_record(attempts / "4.pgid"));
}
