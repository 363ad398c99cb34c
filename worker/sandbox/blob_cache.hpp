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
// Thread-safe; shared by all attempt threads; owned by the composition root.
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "common/base/result.hpp"

namespace drover::worker {

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

 private:
  using Producer = std::function<Result<std::filesystem::path>()>;
  // Runs `produce` once per key at a time; concurrent callers share its result.
  Result<std::filesystem::path> single_flight(const std::string& key, const Producer& produce);
  Result<std::string> fetch_verified(const std::string& digest);
  Result<std::filesystem::path> produce_bundle(const std::string& digest);
  Result<std::filesystem::path> produce_blob(const std::string& digest);

  std::filesystem::path work_dir_;
  BlobFetcher fetch_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_future<Result<std::filesystem::path>>> in_flight_;
  int fetches_ = 0;
};

}  // namespace drover::worker
