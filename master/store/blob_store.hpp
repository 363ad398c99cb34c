#pragma once
// The master's blobs (bundles, outputs, checkpoints, logs): a BlobDir under
// data_dir/blobs, or <shared root>/blobs with a shared output_store, plus the
// blob_mid_write crash point for tests.
#include <filesystem>
#include <string>
#include <string_view>

#include "common/base/result.hpp"
#include "common/fs/blob_dir.hpp"
#include "master/coordinator/crash_points.hpp"

namespace drover::master {

class BlobStore {
 public:
  // `crash` is inert unless DROVER_CRASH_AT armed blob_mid_write (tests only).
  explicit BlobStore(std::filesystem::path root, CrashPoints crash = {})
      : dir_(std::move(root)), crash_(crash) {}

  bool has(std::string_view digest) const { return dir_.has(digest); }
  Status put(std::string_view digest, std::string_view data);
  Result<std::string> get(std::string_view digest) const { return dir_.get(digest); }
  const BlobDir& dir() const { return dir_; }

  static constexpr std::string_view kEmptyDigest = BlobDir::kEmptyDigest;

 private:
  BlobDir dir_;
  CrashPoints crash_;
};

}  // namespace drover::master
