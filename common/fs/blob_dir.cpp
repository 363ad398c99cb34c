#include "common/fs/blob_dir.hpp"

#include <fmt/format.h>

#include "common/fs/fs.hpp"

namespace drover {

std::filesystem::path BlobDir::path_of(std::string_view digest) const {
  std::string d(digest);
  return root_ / d.substr(0, 2) / d;
}

bool BlobDir::has(std::string_view digest) const {
  if (digest == kEmptyDigest) return true;
  if (!is_sha256_hex(digest)) return false;
  std::error_code ec;
  return std::filesystem::exists(path_of(digest), ec);
}

Status BlobDir::put(std::string_view digest, std::string_view data) const {
  if (!is_sha256_hex(digest)) {
    return make_error(ErrorCode::invalid_argument, "digest must be 64 lower-case hex characters");
  }
  if (sha256_hex(data) != digest) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("content does not match digest {}", digest));
  }
  if (has(digest)) return ok_status();
  auto path = path_of(digest);
  DROVER_TRY(make_dirs(path.parent_path()));
  return write_file_atomic(path, data);
}

Result<std::string> BlobDir::get(std::string_view digest) const {
  if (digest == kEmptyDigest) return std::string();
  if (!has(digest)) return make_error(ErrorCode::not_found, fmt::format("no blob {}", digest));
  auto data = read_file(path_of(digest));
  if (!data.ok()) return data.error();
  if (sha256_hex(*data) != digest) {
    // Quarantine it: from now on it is simply missing, and lineage recomputes it.
    std::error_code ec;
    std::filesystem::rename(path_of(digest), path_of(digest).string() + ".corrupt", ec);
    return make_error(ErrorCode::not_found,
                      fmt::format("blob {} was corrupt (digest mismatch) and is set aside", digest));
  }
  return data;
}

}  // namespace drover
