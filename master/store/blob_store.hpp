#pragma once
// The master's blobs (bundles, outputs, checkpoints, logs): a BlobDir under
// data_dir/blobs, or <shared root>/blobs with a shared output_store, plus the
// blob_mid_write crash point for tests.
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "common/base/result.hpp"
#include "common/fs/blob_dir.hpp"
#include "master/coordinator/crash_points.hpp"
#include "master/store/garbage.hpp"

namespace drover::master {

class BlobStore {
 public:
  // `crash` is inert unless DROVER_CRASH_AT armed blob_mid_write (tests only).
  explicit BlobStore(std::filesystem::path root, CrashPoints crash = {})
      : dir_(std::move(root)), crash_(crash) {}

  bool has(std::string_view digest) const { return dir_.has(digest); }
  // Stores a blob; one already there gets a fresh modification time, so the
  // garbage collection's grace period starts again for it (safe from any thread).
  Status put(std::string_view digest, std::string_view data);
  // Deletes what `rules` allow (garbage.hpp). Runs off the coordinator's strand.
  GarbageReport collect_garbage(const GarbageRules& rules) {
    return master::collect_garbage(dir_, rules, &gc_mu_);
  }
  Result<std::string> get(std::string_view digest) const { return dir_.get(digest); }
  const BlobDir& dir() const { return dir_; }

  static constexpr std::string_view kEmptyDigest = BlobDir::kEmptyDigest;

 private:
  BlobDir dir_;
  CrashPoints crash_;
  std::mutex gc_mu_;  // put()'s refresh of a present blob vs. its deletion
};

}  // namespace drover::master
