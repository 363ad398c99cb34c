#pragma once
// The master's blobs (bundles, outputs, checkpoints, logs): a BlobDir under
// data_dir/blobs, or <shared root>/blobs with a shared output_store, plus the
// blob_mid_write crash point for tests.
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

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

  // Remembers the blobs it saw (no stat() per report of a blob just uploaded);
  // a garbage collection forgets them all.
  bool has(std::string_view digest) const;
  // Stores a blob; one already there gets a fresh modification time, so the
  // garbage collection's grace period starts again for it (safe from any thread).
  Status put(std::string_view digest, std::string_view data);
  // Deletes what `rules` allow (garbage.hpp). Runs off the coordinator's strand.
  GarbageReport collect_garbage(const GarbageRules& rules);
  // A corrupt blob is set aside (BlobDir::get), so a failure forgets what it knew.
  Result<std::string> get(std::string_view digest) const;
  const BlobDir& dir() const { return dir_; }

  static constexpr std::string_view kEmptyDigest = BlobDir::kEmptyDigest;

 private:
  BlobDir dir_;
  CrashPoints crash_;
  std::mutex gc_mu_;  // put()'s refresh of a present blob vs. its deletion
  // Digests known to be present. A digest is added only if no collection
  // began or ended since it was seen (generation unchanged), and the set is
  // emptied when a collection begins and when it ends.
  mutable std::mutex known_mu_;
  mutable std::unordered_set<std::string> known_;
  mutable std::uint64_t generation_ = 0;
  void remember(std::string_view digest, std::uint64_t seen_at) const;
  std::uint64_t generation() const;
  void forget_all() const;
};

}  // namespace drover::master
