#pragma once
// Content-addressed blobs (bundles, outputs, logs) under data_dir/blobs,
// named by their SHA-256. Writes are atomic and fsynced; reads verify the
// digest, so a corrupt blob is reported, never served.
#include <filesystem>
#include <string>
#include <string_view>

#include "common/base/result.hpp"
#include "master/coordinator/crash_points.hpp"

namespace drover::master {

class BlobStore {
 public:
  // `crash` is inert unless DROVER_CRASH_AT armed blob_mid_write (tests only).
  explicit BlobStore(std::filesystem::path root, CrashPoints crash = {})
      : root_(std::move(root)), crash_(crash) {}

  bool has(std::string_view digest) const;
  // Stores `data` under `digest` after checking that sha256(data) == digest.
  Status put(std::string_view digest, std::string_view data);
  // Reads and verifies. not_found when absent or corrupt (a corrupt file is renamed
  // to <digest>.corrupt, so it counts as missing from then on); io when unreadable.
  Result<std::string> get(std::string_view digest) const;

  static constexpr std::string_view kEmptyDigest =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

 private:
  std::filesystem::path path_of(std::string_view digest) const;
  std::filesystem::path root_;
  CrashPoints crash_;
};

}  // namespace drover::master
