#include "worker/sandbox/blob_cache.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

BlobCache::BlobCache(fs::path work_dir, BlobFetcher fetch)
    : work_dir_(std::move(work_dir)), fetch_(std::move(fetch)) {}

int BlobCache::fetch_count() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<fs::path> BlobCache::bundle(const std::string& digest) {
  if (!is_sha256_hex(digest)) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad bundle digest \"{}\"", digest));
  }
  return single_flight("bundle:" + digest, [&] { return produce_bundle(digest); });
}

Result<fs::path> BlobCache::blob(const std::string& digest) {
  if (!is_sha256_hex(digest)) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad blob digest \"{}\"", digest));
  }
  return single_flight("blob:" + digest, [&] { return produce_blob(digest); });
}

Result<fs::path> BlobCache::single_flight(const std::string& key, const Producer& produce) {
  std::promise<Result<fs::path>> promise;
  std::shared_future<Result<fs::path>> shared;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      shared = it->second;
    } else {
      in_flight_.emplace(key, promise.get_future().share());
    }
  }
  if (shared.valid()) return shared.get();
  Result<fs::path> result = produce();
  promise.set_value(result);
  std::lock_guard lock(mu_);
  in_flight_.erase(key);
  return result;
}

Result<std::string> BlobCache::fetch_verified(const std::string& digest) {
  {
    std::lock_guard lock(mu_);
    ++fetches_;
  }
  auto bytes = fetch_(digest);
  if (!bytes.ok()) {
    return make_error(bytes.error().code,
                      fmt::format("download of {} failed: {}", digest, bytes.error().describe()));
  }
  std::string actual = sha256_hex(*bytes);
  if (actual != digest) {
    return make_error(ErrorCode::invalid_spec,
                      fmt::format("download of {} failed: content has digest {}", digest, actual));
  }
  return bytes;
}

Result<fs::path> BlobCache::produce_bundle(const std::string& digest) {
  fs::path dir = work_dir_ / "bundles" / digest;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return dir;  // cached by an earlier attempt or run
  DROVER_TRY(make_dirs(dir.parent_path()));
  auto bytes = fetch_verified(digest);
  if (!bytes.ok()) return bytes.error();
  auto tmp = make_temp_dir(".unpack-" + digest.substr(0, 12) + "-", dir.parent_path());
  if (!tmp.ok()) return tmp.error();
  Status unpacked = unpacked_without_loss(unpack_archive(*bytes, *tmp), *tmp);
  if (!unpacked.ok()) {
    (void)drover::remove_all(*tmp);
    return make_error(unpacked.error().code, fmt::format("unpack of bundle {} failed: {}", digest,
                                                         unpacked.error().describe()));
  }
  // Sandboxes hard-link these files: nobody may change them in place.
  for (fs::recursive_directory_iterator it(*tmp, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                      fs::perm_options::remove, ec);
    }
  }
  fs::rename(*tmp, dir, ec);
  if (ec) {
    (void)drover::remove_all(*tmp);
    if (fs::is_directory(dir, ec)) return dir;  // another worker process won the race
    return make_error(ErrorCode::io,
                      fmt::format("cannot store bundle {}: {}", digest, ec.message()));
  }
  spdlog::info("bundle {} cached", digest);
  return dir;
}

Result<fs::path> BlobCache::produce_blob(const std::string& digest) {
  fs::path file = work_dir_ / "blobs" / digest;
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return file;
  DROVER_TRY(make_dirs(file.parent_path()));
  auto bytes = fetch_verified(digest);
  if (!bytes.ok()) return bytes.error();
  Status written = write_file_atomic(file, *bytes);
  if (!written.ok()) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot store blob {}: {}", digest, written.error().describe()));
  }
  return file;
}

}  // namespace drover::worker
