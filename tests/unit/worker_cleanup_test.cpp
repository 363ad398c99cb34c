// Worker disk clean-up: which attempt dirs and cache entries go (pure rules with
// a manual clock), the cache's LRU index and pins, and the config keys.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "worker/config/worker_config.hpp"
#include "worker/sandbox/blob_cache.hpp"
#include "worker/sandbox/cleanup.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

CacheEntry entry(const std::string& key, std::uint64_t bytes, std::uint64_t last_use) {
  return CacheEntry{key, fs::path("/x") / key, bytes, last_use};
}

std::set<std::string> keys_at(const std::vector<CacheEntry>& entries, const std::vector<std::size_t>& idx) {
  std::set<std::string> out;
  for (std::size_t i : idx) out.insert(entries[i].key);
  return out;
}

// Blobs the fake master serves: name -> bytes of that size.
struct FakeBlobs {
  std::map<std::string, std::string> by_digest;
  int fetches = 0;
  std::string add(std::size_t size, char fill) {
    std::string bytes(size, fill);
    std::string digest = sha256_hex(bytes);
    by_digest[digest] = bytes;
    return digest;
  }
  BlobFetcher fetcher() {
    return [this](const std::string& d) -> Result<std::string> {
      ++fetches;
      auto it = by_digest.find(d);
      if (it == by_digest.end()) return make_error(ErrorCode::not_found, "no blob");
      return it->second;
    };
  }
};

void age(const fs::path& p, TimePoint when) {
  auto sys = std::chrono::time_point_cast<std::chrono::system_clock::duration>(when);
  fs::last_write_time(p, std::chrono::file_clock::from_sys(sys));
}

}  // namespace

TEST_CASE("finished attempt dirs go after keep_attempts, running ones never", "[worker][cleanup]") {
  ManualClock clock;
  const TimePoint now = clock.now();
  std::vector<AttemptDir> dirs = {
      {1, "/w/attempts/1", now - 2h},     // old, finished: goes
      {2, "/w/attempts/2", now - 2h},     // old but still in the table: stays
      {3, "/w/attempts/3", now - 59min},  // finished, younger than keep: stays
      {4, "/w/attempts/4", now - 1h},     // exactly keep old: goes
  };
  auto gone = select_stale_attempts(dirs, {2}, now, 1h);
  std::set<std::int64_t> ids;
  for (const auto& d : gone) ids.insert(d.id);
  CHECK(ids == std::set<std::int64_t>{1, 4});
  CHECK(select_stale_attempts(dirs, {}, now, 0ms).size() == 4);
  CHECK(select_stale_attempts(dirs, {1, 2, 3, 4}, now, 0ms).empty());
}

TEST_CASE("cache eviction takes least recently used first until under the limit", "[worker][cleanup]") {
  std::vector<CacheEntry> entries = {entry("a", 40, 5), entry("b", 30, 1), entry("c", 20, 9),
                                     entry("d", 10, 3)};
  // 100 bytes, limit 60: b (oldest, 30) then d (10) leaves 60.
  CHECK(keys_at(entries, select_evictions(entries, 60, 100)) == std::set<std::string>{"b", "d"});
  // Already under the limit: nothing.
  CHECK(select_evictions(entries, 100, 100).empty());
  // No limit: nothing.
  CHECK(select_evictions(entries, 0, 100).empty());
  // Entries used after use 3 are pinned: only b and d may go, even if still over.
  CHECK(keys_at(entries, select_evictions(entries, 10, 3)) == std::set<std::string>{"b", "d"});
  // Everything pinned: nothing goes.
  CHECK(select_evictions(entries, 10, 0).empty());
}

TEST_CASE("the cache indexes entries on disk by age and evicts them for re-download",
          "[worker][cleanup]") {
  test::TempDir work;
  ManualClock clock;
  FakeBlobs master;
  const std::string d1 = master.add(1000, 'a'), d2 = master.add(2000, 'b'), d3 = master.add(3000, 'c');
  {
    BlobCache cache(work.path, master.fetcher());
    for (const auto& d : {d1, d2, d3}) REQUIRE(cache.blob(d).ok());
    CHECK(cache.bytes() == 6000);
  }
  // A restarted worker finds them, oldest mtime = least recently used.
  age(work.path / "blobs" / d1, clock.now() - 1h);
  age(work.path / "blobs" / d2, clock.now() - 3h);
  age(work.path / "blobs" / d3, clock.now() - 2h);
  BlobCache cache(work.path, master.fetcher());
  CHECK(cache.bytes() == 6000);
  std::vector<std::int64_t> running;
  Cleaner cleaner(clock, {work.path, 24h, 4500}, cache, [&] { return running; });
  auto report = cleaner.sweep();
  CHECK(report.cache_evicted == 1);  // d2, the oldest: 4000 left
  CHECK(report.cache_bytes == 4000);
  CHECK_FALSE(fs::exists(work.path / "blobs" / d2));
  CHECK(fs::exists(work.path / "blobs" / d1));
  // Evicted means downloaded again when asked for.
  int before = master.fetches;
  REQUIRE(cache.blob(d2).ok());
  CHECK(master.fetches == before + 1);
  // Now d3 is the least recently used (d1 was touched on disk later than d3).
  report = cleaner.sweep();
  CHECK_FALSE(fs::exists(work.path / "blobs" / d3));
  CHECK(cache.bytes() <= 4500);
}

TEST_CASE("entries a running attempt may use are pinned until it leaves the table",
          "[worker][cleanup]") {
  test::TempDir work;
  ManualClock clock;
  FakeBlobs master;
  const std::string old1 = master.add(1000, 'o'), used = master.add(1000, 'u');
  BlobCache cache(work.path, master.fetcher());
  std::vector<std::int64_t> running;
  Cleaner cleaner(clock, {work.path, 24h, 1}, cache, [&] { return running; });
  REQUIRE(cache.blob(old1).ok());
  cleaner.sweep();  // nothing runs: old1 goes
  CHECK(cache.bytes() == 0);

  running = {7};               // attempt 7 is admitted after that sweep...
  REQUIRE(cache.blob(used).ok());  // ...and uses a blob
  auto report = cleaner.sweep();
  CHECK(report.cache_evicted == 0);  // pinned although the cache is over its limit
  CHECK(fs::exists(work.path / "blobs" / used));
  report = cleaner.sweep();
  CHECK(fs::exists(work.path / "blobs" / used));

  running.clear();  // attempt 7 ended
  report = cleaner.sweep();
  CHECK(report.cache_evicted == 1);
  CHECK_FALSE(fs::exists(work.path / "blobs" / used));
}

TEST_CASE("the cleaner removes old finished attempt dirs and keeps running ones",
          "[worker][cleanup]") {
  test::TempDir work;
  ManualClock clock;
  FakeBlobs master;
  BlobCache cache(work.path, master.fetcher());
  std::vector<std::int64_t> running = {12};
  for (const char* id : {"11", "12", "13"}) {
    REQUIRE(make_dirs(work.path / "attempts" / id / "sandbox").ok());
    std::ofstream(work.path / "attempts" / id / "stdout") << "log\n";
  }
  REQUIRE(make_dirs(work.path / "attempts" / "not-an-id").ok());
  for (const char* id : {"11", "12"}) {
    age(work.path / "attempts" / id / "stdout", clock.now() - 2h);
    age(work.path / "attempts" / id, clock.now() - 2h);
  }
  age(work.path / "attempts" / "13", clock.now() - 2h);  // but its log changed just now
  age(work.path / "attempts" / "13" / "stdout", clock.now());
  Cleaner cleaner(clock, {work.path, 1h, 0}, cache, [&] { return running; });
  auto report = cleaner.sweep();
  CHECK(report.attempts_removed == 1);
  CHECK_FALSE(fs::exists(work.path / "attempts" / "11"));
  CHECK(fs::exists(work.path / "attempts" / "12"));
  CHECK(fs::exists(work.path / "attempts" / "13"));
  CHECK(fs::exists(work.path / "attempts" / "not-an-id"));
  clock.advance(1h);
  running.clear();
  report = cleaner.sweep();
  CHECK(report.attempts_removed == 2);
  CHECK_FALSE(fs::exists(work.path / "attempts" / "12"));
  CHECK_FALSE(fs::exists(work.path / "attempts" / "13"));
}

TEST_CASE("sweeps run often enough for keep_attempts, at most a minute apart", "[worker][cleanup]") {
  CHECK(sweep_interval(24h) == 1min);
  CHECK(sweep_interval(1s) == 500ms);
  CHECK(sweep_interval(0ms) == 200ms);
}

TEST_CASE("keep_attempts and cache_size are worker config keys with defaults", "[worker][config]") {
  HostFacts host;
  host.hostname = "n";
  host.euid = 1000;
  auto parse = [&](std::vector<std::string> flags) -> Result<WorkerConfig> {
    flags.insert(flags.begin(), "drover-worker");
    auto loaded = load_config("drover-worker", worker_config_keys(), flags);
    if (!loaded.ok()) return loaded.error();
    return make_worker_config(loaded->values, host);
  };
  auto d = parse({});
  REQUIRE(d.ok());
  CHECK(d->keep_attempts == 24h);
  CHECK(d->cache_size == (10ULL << 30));
  auto set = parse({"--keep-attempts", "1s", "--cache-size", "512Mi"});
  REQUIRE(set.ok());
  CHECK(set->keep_attempts == 1s);
  CHECK(set->cache_size == (512ULL << 20));
  auto bad = parse({"--cache-size", "lots"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().describe().find("cache_size") != std::string::npos);
}
