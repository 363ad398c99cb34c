#pragma once
// Cleaner: keeps the worker's disk in bounds (work_dir/attempts and the blob cache).
//
//   every interval (keep_attempts / 2, between 200 ms and 1 min):
//     1. attempt dirs: work_dir/attempts/<id> whose attempt is no longer in the
//        AttemptTable (its report was acknowledged, so its output and logs were
//        uploaded) and that changed last more than keep_attempts ago are removed;
//     2. blob cache: least recently used bundles and blobs are evicted until the
//        cache holds at most cache_size bytes; entries an attempt in the table
//        may still be using are pinned (see below) and never evicted.
//
// Pinning: the cache numbers every use (BlobCache::evict). An attempt first
// seen in the table at sweep N was admitted after sweep N-1 took its snapshot,
// so everything it used has a use number above sweep N-1's: entries used after
// the oldest such bound of the attempts still in the table are pinned. This is
// conservative (a long attempt pins what others used after it started) and
// needs no change to the code that uses the cache.
//
// The selection rules are pure functions (tested with an injected clock);
// Cleaner runs them on its own thread, started by the composition root, which
// owns it and the cache; stop() (or the destructor) ends the thread.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/base/clock.hpp"
#include "common/base/units.hpp"
#include "worker/sandbox/blob_cache.hpp"

namespace drover::worker {

struct CleanupOptions {
  std::filesystem::path work_dir;
  Duration keep_attempts = std::chrono::hours(24);  // finished attempt dirs older than this go
  std::uint64_t cache_size = 10ULL << 30;           // bytes; 0 = no limit
};

// An attempt dir as found on disk.
struct AttemptDir {
  std::int64_t id = 0;
  std::filesystem::path path;
  TimePoint changed;  // newest mtime of the dir and its log files
};

// The dirs to remove: not running, unchanged for at least `keep`.
std::vector<AttemptDir> select_stale_attempts(const std::vector<AttemptDir>& dirs,
                                              const std::set<std::int64_t>& running, TimePoint now,
                                              Duration keep);

// Indexes (into `entries`) to evict, least recently used first, so that the
// rest holds at most `limit` bytes; entries with last_use > `pinned_after` are
// never chosen (the rest may then stay over the limit). limit 0 = no limit.
std::vector<std::size_t> select_evictions(const std::vector<CacheEntry>& entries, std::uint64_t limit,
                                          std::uint64_t pinned_after);

// The attempt dirs under work_dir/attempts (names that are not ids are skipped).
std::vector<AttemptDir> list_attempt_dirs(const std::filesystem::path& work_dir);

// The interval between sweeps for `keep_attempts`.
Duration sweep_interval(Duration keep_attempts);

struct SweepReport {
  int attempts_removed = 0;
  int cache_evicted = 0;
  std::uint64_t cache_bytes = 0;  // after the sweep
};

class Cleaner {
 public:
  using RunningIds = std::function<std::vector<std::int64_t>()>;
  Cleaner(const Clock& clock, CleanupOptions options, BlobCache& cache, RunningIds running);
  ~Cleaner();
  Cleaner(const Cleaner&) = delete;
  Cleaner& operator=(const Cleaner&) = delete;

  // One sweep now (also what the thread runs); sweeps never overlap.
  SweepReport sweep();
  void start();
  void stop();

 private:
  // Called by the cache under its lock with the current use number: updates
  // first-seen bounds and returns the pin threshold.
  std::uint64_t pin_threshold(std::uint64_t now_use);

  const Clock& clock_;
  CleanupOptions options_;
  BlobCache& cache_;
  RunningIds running_;
  std::map<std::int64_t, std::uint64_t> seen_since_;  // attempt id -> use number bound
  std::uint64_t previous_use_ = 0;                     // use number at the previous sweep

  std::mutex sweep_mu_;  // one sweep at a time; guards seen_since_ and previous_use_
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drover::worker
