#pragma once
// A directory of content-addressed blobs, <root>/<first 2 hex>/<sha256>. The
// master's blob store is one (data_dir/blobs, or <shared>/blobs with a shared
// output_store); workers on a shared output_store read and write the same one.
// Writes are atomic (temp + fsync + rename), so concurrent writers of one
// digest are harmless; reads verify the digest, so a corrupt blob is reported
// as missing, never served.
#include <filesystem>
#include <string>
#include <string_view>

#include "common/base/result.hpp"

namespace drover {

class BlobDir {
 public:
  BlobDir() = default;
  explicit BlobDir(std::filesystem::path root) : root_(std::move(root)) {}

  bool has(std::string_view digest) const;
  // Stores `data` under `digest` after checking that sha256(data) == digest.
  // invalid_argument on a bad digest or mismatch; io when the disk fails.
  Status put(std::string_view digest, std::string_view data) const;
  // Reads and verifies. not_found when absent or corrupt (a corrupt file is renamed
  // to <digest>.corrupt, so it counts as missing from then on); io when unreadable.
  Result<std::string> get(std::string_view digest) const;

  std::filesystem::path path_of(std::string_view digest) const;
  const std::filesystem::path& root() const { return root_; }

  static constexpr std::string_view kEmptyDigest =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

 private:
  std::filesystem::path root_;
};

}  // namespace drover
