#pragma once
// BlobCache: the worker's local copies of master blobs, by SHA-256 digest.
//   work_dir/bundles/<digest>/   an unpacked bundle (read-only source of sandboxes)
//   work_dir/blobs/<digest>      a raw blob (upstream outputs)
// Each digest is downloaded at most once even when many attempts ask for it at
// the same time: the first caller fetches, the others wait for its result. A
// failed download is not remembered; the next caller tries again. Content is
// verified against the digest before it becomes visible (temp + rename).
// Errors: the fetcher's code when the download failed (not_found: the master
// has no such blob), invalid_spec when the bytes do not match the digest, io
// when the local disk failed.
// Size and recency: the cache indexes what it holds (existing entries are found
// at construction, ordered by mtime) and numbers every bundle()/blob() call, so
// a Cleaner can evict the least recently used entries (evict) while entries
// in use stay pinned (see worker/sandbox/cleanup.hpp).
// Thread-safe; shared by all attempt threads; owned by the composition root.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover::worker {

// One cached bundle or blob.
struct CacheEntry {
  std::string key;  // "bundle:<digest>" or "blob:<digest>"
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  std::uint64_t last_use = 0;  // use number of its latest bundle()/blob() call
};

// Downloads a blob's bytes (GET /internal/v1/blobs/{digest}).
using BlobFetcher = std::function<Result<std::string>(const std::string& digest)>;

class BlobCache {
 public:
  BlobCache(std::filesystem::path work_dir, BlobFetcher fetch);

  // The directory holding the unpacked bundle `digest`.
  [[nodiscard]] Result<std::filesystem::path> bundle(const std::string& digest);
  // The file holding blob `digest`.
  [[nodiscard]] Result<std::filesystem::path> blob(const std::string& digest);

  // Number of fetcher calls made so far (for tests and logs).
  int fetch_count() const;

  // Bytes of the indexed entries, and the entries themselves.
  std::uint64_t bytes() const;
  std::vector<CacheEntry> entries() const;
  // Under the cache's lock, `choose(entries, last use number)` picks entries to
  // evict (indexes); they leave the index and the disk at once, so a later
  // bundle()/blob() downloads them again. Returns how many were evicted.
  using Chooser =
      std::function<std::vector<std::size_t>(const std::vector<CacheEntry>&, std::uint64_t)>;
  int evict(const Chooser& choose);

 private:
  using Producer = std::function<Result<std::filesystem::path>()>;
  // Runs `produce` once per key at a time; concurrent callers share its result.
  Result<std::filesystem::path> single_flight(const std::string& key, const Producer& produce);
  Result<std::string> fetch_verified(const std::string& digest);
  Result<std::filesystem::path> produce_bundle(const std::string& digest);
  Result<std::filesystem::path> produce_blob(const std::string& digest);
  // Gets the next use number, stamped on `key`'s entry if it is indexed.
  std::uint64_t note_use(const std::string& key);
  // Indexes `path` under `key` after a successful bundle()/blob() (sizes it if new).
  void note_present(const std::string& key, const std::filesystem::path& path, std::uint64_t use);
  void scan();

  std::filesystem::path work_dir_;
  BlobFetcher fetch_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_future<Result<std::filesystem::path>>> in_flight_;
  int fetches_ = 0;
  std::map<std::string, CacheEntry> index_;
  std::uint64_t uses_ = 0;
  int evictions_ = 0;  // names the trash dirs
};

}  // namespace drover::worker
