#include <signal.h>

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
